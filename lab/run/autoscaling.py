"""``system.autoscale`` in a scenario: the system's own autoscaler
(``system.autoscaler``) decides, the lab applies its decisions to the backend's workers.

Each change is one row of the events table (action ``autoscale``), with what the decision
saw, so a report shows the workers following the load beside the scenario's own events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis

from lab.run.timeline import Timeline
from system.autoscaler import Autoscaler, QueueWatch
from system.client import Client
from system.config import AutoscaleSettings
from system.core.submission import DEFAULT_QUEUE


async def follow(
    settings: AutoscaleSettings, redis_url: str, timeline: Timeline, stop: asyncio.Event
) -> None:
    """Until ``stop``: observe the queue, decide, scale; one decision per interval."""
    autoscaler = Autoscaler(settings)
    with Client(redis_url) as client:
        watch = QueueWatch(client, DEFAULT_QUEUE)
        while not stop.is_set():
            with contextlib.suppress(redis.RedisError, OSError):  # Redis down: decide later
                obs = await asyncio.to_thread(watch.observe)
                current = len(timeline.backend.worker_pids())
                wanted = autoscaler.decide(obs, current, time.monotonic())
                if wanted != current:
                    detail = (
                        f"{current} -> {wanted} workers (ready {obs.ready}, oldest wait "
                        f"{obs.oldest_wait_seconds:.2f} s, {obs.ended_per_second:.1f} ended/s)"
                    )
                    await timeline.scale_now("autoscale", detail, wanted)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.interval_seconds)
