"""The events of a scenario's timeline (``events:``): scale, kill, pause / resume, restart
Redis, take the dependency down, and network faults on Redis connections. A discriminated
union on ``action``; ``lab.run.timeline`` applies them during a run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lab.scenario.limits import MAX_DURATION_SECONDS, MAX_WORKERS


class _Event(BaseModel):
    # A misspelt field is an error naming it, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")

    at_seconds: float = Field(
        ge=0, le=MAX_DURATION_SECONDS, description="When, from the start of the load."
    )


class ScaleWorkers(_Event):
    action: Literal["scale_workers"]
    workers: int = Field(ge=0, le=MAX_WORKERS)


# busiest: the worker holding the most tasks at the time (by its last heartbeat; ties go
# to the oldest), for faults that must hit held tasks whoever happens to hold them.
Which = Literal["random", "oldest", "newest", "busiest"]


class KillWorker(_Event):
    action: Literal["kill_worker"]
    signal: Literal["SIGKILL", "SIGTERM"] = "SIGKILL"
    which: Which = Field("random", description="random uses the scenario's seed.")


class Pause(_Event):
    action: Literal["pause"]
    target: Literal["worker", "redis"] = "worker"
    which: Which = "random"


class Resume(_Event):
    action: Literal["resume"]
    target: Literal["worker", "redis"] = Field("worker", description="Resumes all paused.")


class RestartRedis(_Event):
    action: Literal["restart_redis"]
    crash: bool = Field(True, description="SIGKILL (a crash) instead of SHUTDOWN.")


class DependencyDown(_Event):
    action: Literal["dependency_down"]
    duration_seconds: float = Field(
        gt=0, le=MAX_DURATION_SECONDS, description="How long every call fails."
    )
    delay_ms: int = Field(
        0, ge=0, le=10_000, description="How long a failing call takes (like a timeout)."
    )


class _NetworkEvent(_Event):
    """A network fault on Redis connections, through their proxies (needs
    ``system.network_faults``), undone after ``duration_seconds``."""

    target: Literal["api", "worker", "workers"] = Field(
        "worker", description="The API's connection, one worker's (see which), or all workers'."
    )
    which: Which = Field("random", description="For target worker; random uses the seed.")
    duration_seconds: float = Field(
        gt=0, le=MAX_DURATION_SECONDS, description="How long the fault lasts."
    )


class Latency(_NetworkEvent):
    action: Literal["latency"]
    ms: int = Field(ge=0, le=60_000, description="Added to every reply from Redis.")
    jitter_ms: int = Field(0, ge=0, le=60_000, description="± this, uniformly.")


class Jitter(_NetworkEvent):
    action: Literal["jitter"]
    jitter_ms: int = Field(gt=0, le=60_000, description="Replies delayed by ms ± this.")
    ms: int = Field(0, ge=0, le=60_000)


class Bandwidth(_NetworkEvent):
    action: Literal["bandwidth"]
    kb_per_second: int = Field(
        gt=0, le=10_000_000, description="Replies from Redis at most this fast."
    )


class Partition(_NetworkEvent):
    action: Literal["partition"]  # cut off: connections closed, new ones refused


class Reset(_NetworkEvent):
    action: Literal["reset"]  # every connection reset (TCP RST), new ones too


class Blackhole(_NetworkEvent):
    action: Literal["blackhole"]  # requests swallowed, connections left open: no reply


NetworkEvent = Latency | Jitter | Bandwidth | Partition | Reset | Blackhole
CUT_OFF_ACTIONS = ("partition", "blackhole")  # the process cannot reach Redis at all

Event = Annotated[
    ScaleWorkers
    | KillWorker
    | Pause
    | Resume
    | RestartRedis
    | DependencyDown
    | Latency
    | Jitter
    | Bandwidth
    | Partition
    | Reset
    | Blackhole,
    Field(discriminator="action"),
]
