"""Values the Lua scripts and the Python code share, written once, here.

The script loader (``system.core.scripts``) declares each of them as a Lua ``local`` at the
top of every script, so a script uses ``RATE_BUCKET_MS`` and never writes ``10000``; the
reply codes (``ScriptCode`` and each script's reply enum in ``system.core.ops``) and the
terminal task states (``system.core.task``) are injected the same way. Nothing here is
configurable at run time: changing a value changes what is stored in Redis, so every
process that shares a Redis must run the same values.
"""

from __future__ import annotations

from typing import Final

# Priorities: higher runs first.
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 255

# FIFO sequence space inside one priority level of the queued ZSET. A task's score is
# (MAX_PRIORITY - priority) * SEQ_SPAN + seq: below 2^52, so an exact integer in a double,
# and ZPOPMIN yields the highest priority first and, within it, the oldest.
SEQ_SPAN: Final = 2**44

# Throughput: the scripts count ended tasks in buckets of RATE_BUCKET_MS (a HASH, bucket
# index -> count); readers add up the RATE_BUCKETS most recent ones, the current, partial
# one included (``system.client.finished_rate``). The scripts drop the bucket that just
# left the window and let the key expire after 2 * RATE_BUCKETS buckets without an end.
RATE_BUCKET_MS: Final = 10_000
RATE_BUCKETS: Final = 6

# The longest a client waits for a task to end (the API's ``?wait=`` cap). A task's done
# stream, written for waiters when it ends, lives this long, so it outlasts any wait.
MAX_WAIT_SECONDS: Final = 60.0
DONE_STREAM_TTL_MS: Final = int(MAX_WAIT_SECONDS * 1000)

# Retention (``trim_retained`` in _lib.lua): the most ended records one script call deletes.
# More than one call adds (a completion batch is at most a claim batch), so an index over
# its bounds shrinks with every call, while no call is long enough to stall Redis.
RETENTION_TRIM_BATCH: Final = 2000

# Numbers the loader declares in every script, by name.
LUA_NUMBERS: Final[dict[str, int]] = {
    "MAX_PRIORITY": MAX_PRIORITY,
    "SEQ_SPAN": SEQ_SPAN,
    "RATE_BUCKET_MS": RATE_BUCKET_MS,
    "RATE_BUCKETS": RATE_BUCKETS,
    "DONE_STREAM_TTL_MS": DONE_STREAM_TTL_MS,
    "RETENTION_TRIM_BATCH": RETENTION_TRIM_BATCH,
}
