"""What one scenario may ask of this machine: bounds the lab's own fields validate against.

The fields a submit carries (priority, max_retries, payload ...) are judged by the API's
own model instead (``system.api.models.TaskSubmission``), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Final

MAX_WORKERS: Final = 64  # worker processes at once, started by the lab
MAX_CONCURRENCY: Final = 10_000  # tasks in flight per worker; clients; open requests
MAX_PROCESSES: Final = 256  # process pool of one worker
MAX_API_PROCESSES: Final = 64  # server processes of the API (its settings allow as many)
MAX_DURATION_SECONDS: Final = 7 * 86400  # any length of time a run is made of
MAX_RATE_PER_SECOND: Final = 1_000_000
MAX_ARRIVALS: Final = 10_000_000  # the schedule is built in memory: about 1 GB at this
MAX_SWEEP_RUNS: Final = 1000
MAX_LIST_ITEMS: Final = 1000  # events, mix entries, arrival steps, imports
MAX_MEMORY_MB: Final = 1_048_576  # a container memory limit (1 TiB)
