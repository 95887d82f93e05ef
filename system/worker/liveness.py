"""The worker's liveness beat: a signal separate from its task leases.

A thread of its own (with its own Redis connection) runs ``beat.lua`` for every queue the
worker holds tasks of, every ``liveness_beat_seconds``. Being a thread, it keeps beating
while a handler blocks the event loop (``time.sleep`` in an async handler), so a long task
on a live worker is never taken away; a worker that dies, is stopped (SIGSTOP stops the
thread too) or is cut off from Redis stops beating, and the queue's leader redelivers its
tasks once its last beat is older than ``dead_after_seconds`` (``reap.lua``), however long
their leases still run. An idle worker holds nothing and sends nothing.

The worker joins a queue's alive set when a claim gives it tasks (``claim.lua``) and
leaves it when it holds none there and waits for work (``leave``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

import redis

from system.core import ops
from system.core.connection import SyncRedis, connect
from system.core.scripts import register_all

log = logging.getLogger("taskq.worker")


class LivenessBeat:
    def __init__(
        self,
        redis_url: str,
        worker_id: str,
        held_queues: Callable[[], Collection[str]],
        interval_seconds: float,
    ) -> None:
        """``held_queues`` is called from the beat thread: it must be safe to call from
        there (reading the worker's state without awaiting anything)."""
        # A beat that gets no answer within the interval is late anyway: give it up.
        timeout = max(interval_seconds, 0.5)
        self._redis: SyncRedis = connect(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._scripts = register_all(self._redis)
        self.worker_id = worker_id
        self._held_queues = held_queues
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveness-beat", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._redis.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.beat_once()
            except redis.RedisError as exc:
                if not self._failing:
                    log.warning("liveness beat failed (%s); retrying every beat", exc)
                self._failing = True
            except Exception:  # never let the thread die: a silent worker looks dead
                log.exception("liveness beat failed")
            else:
                if self._failing:
                    log.info("liveness beat answered again")
                self._failing = False

    def beat_once(self) -> None:
        """One beat for each queue the worker holds tasks of (one round trip each: a
        worker holds tasks of one or two queues, and a cluster spreads them over nodes)."""
        for queue in sorted(self._held_queues()):
            call = ops.beat(queue, self.worker_id)
            self._scripts[call.script](keys=call.keys, args=call.args)
