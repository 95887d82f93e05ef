"""``summary.json`` as typed models: what analysis hands the checks, the report files,
``lab compare`` and the sweep tables (``RunSummary``), instead of a dict read by key.

The JSON keeps the flat shape it always had (``model_dump(mode="json")`` writes it,
``RunSummary.model_validate`` reads it back). Every section is always written; one that
does not apply to the run is ``null`` (``recovery``: ``[]``). Fields added after the
first version have defaults, so a ``summary.json`` written before they existed (or before
absent sections were written as ``null``) still loads; keys it has that the model does
not know are ignored.

Times are seconds from the start of the load; latencies in seconds; rates per second.
How each number is defined: ``lab.analysis.summary`` (counts, latency, phases,
saturation), ``recovery``, ``capacity``, ``breaker`` and ``partition`` of ``lab.analysis``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Percentiles(_Frozen):
    """Of a set of durations, in seconds; all None when there were none."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None


class Phase(_Frozen):
    """A stretch between events (or the end of the load)."""

    from_s: float
    to_s: float
    workers: float | None  # median of the sampled worker processes
    throughput_per_second: float
    latency_p99_s: float | None


class Saturation(_Frozen):
    """The first window where p99 latency or the backlog ran past its limit."""

    at_s: float
    offered_per_second: float
    reason: str


class RedisRestart(_Frozen):
    at_s: float  # requested
    recovery_s: float | None  # until Redis answered again; None: it never did


class AutoscaleSummary(_Frozen):
    changes: int  # autoscaler decisions that changed the worker count
    peak_workers: int | None
    workers_at_load_end: int | None


class FaultRecovery(_Frozen):
    """One fault event's recovery (``lab.analysis.recovery``)."""

    index: int  # the event's row in events.csv
    action: str
    start_s: float
    end_s: float
    throughput_before_per_second: float | None
    noticed_after_s: float | None
    recovered_after_s: float | None
    peak_backlog_tasks: int | None
    latency_p50_extra_s: float | None
    latency_p99_extra_s: float | None
    latency_max_in_fault_s: float | None = None
    tasks_in_fault_window: int
    fault_window_s: float | None = None


class Capacity(_Frozen):
    """Saturation throughput of a backlog drain (``lab.analysis.capacity``)."""

    per_second: float
    from_s: float
    to_s: float
    tasks_counted: int
    tasks_succeeded: int


class BreakerSummary(_Frozen):
    """A circuit breaker over a ``dependency_down`` event (``lab.analysis.breaker``)."""

    task_type: str
    fault_s: list[float]  # [start, end]
    guarded_arrived_during_fault: int
    calls_during_fault: int
    failed_calls_during_fault: int
    calls_total: int
    other_types_per_second_before: float | None
    other_types_per_second_during: float | None
    other_types_ratio: float | None
    breaker_opens: int
    breaker_state_at_end: str | None
    deferred: int
    guarded_accepted: int
    guarded_succeeded: int


class PartitionSummary(_Frozen):
    """Leases and fencing over a worker cut off from Redis (``lab.analysis.partition``)."""

    cut_off_from_s: float
    cut_off_to_s: float
    held_at_cut: int
    held_redelivered: int
    redelivered: int
    stale_completions_rejected: int
    results_from_cut_off_worker: int
    throughput_before_per_second: float | None
    throughput_during_per_second: float | None
    throughput_after_per_second: float | None
    throughput_recovery_ratio: float | None


class LoadAccounting(_Frozen):
    """What the schedule offered and what became of it (``lab.analysis.load``). Refusals
    count responses (a submit refused twice, then accepted, adds 2 and 1 accepted)."""

    offered: int  # arrivals of the schedule
    sent: int  # submits sent at least once
    accepted: int
    refused_429: int  # refusals by back pressure (429)
    refused_503: int  # refusals because the API or Redis was unavailable (503, refused)
    errors: int  # submits that failed otherwise (a 500, a dropped connection, a timeout)
    refused_in_the_end: int  # submits still refused after their retries
    schedule_end_s: float  # when the schedule's last arrival was due (the load's length)
    last_sent_s: float | None  # when the generator actually sent its last submit
    offered_per_second: float | None  # the schedule's mean rate
    sent_per_second: float | None  # submits sent / (last send - first send)
    send_lag_limit_s: float  # a submit later than this counts as late
    late_submits: int  # sent later than the limit
    in_flight_cap: int | None  # load.max_outstanding_requests (open loop)
    capped_submits: int  # sent late because the in-flight cap was reached
    drain_after_last_send_s: float | None  # last end - last send (the old "drain")


class ResourcePhase(_Frozen):
    """Resource use over a stretch of the run (``lab.analysis.resources``). CPU of a role
    sums its processes (100 = one core, averaged over the stretch's samples); the host's
    is a share of all CPUs."""

    label: str  # "load" between events, "after load" for the drain
    from_s: float
    to_s: float
    samples: int
    host_busy_percent: float | None  # 100 - idle, mean
    host_idle_percent_min: float | None
    host_steal_percent: float | None  # mean
    load1_max: float | None
    memory_used_bytes_max: float | None
    cpu_percent: dict[str, float] = Field(default_factory=dict)  # role -> mean
    cpu_percent_max: dict[str, float] = Field(default_factory=dict)  # role -> max sample
    rss_bytes_max: dict[str, float] = Field(default_factory=dict)  # role -> max (summed)


class Resources(_Frozen):
    """What the host and the processes used (``resources.csv``)."""

    cpus: int | None
    samples: int
    idle_floor_percent: float  # below this idle share the host counts as saturated
    host_saturated_share: float | None  # of the load's samples, the share below the floor
    host_saturated_from_s: float | None  # the first such sample
    generator_busy_share: float | None  # of the load's samples, the lab at ~one full core
    phases: list[ResourcePhase]


class Bottleneck(_Frozen):
    """Something other than the queue limited what the run measured."""

    what: str  # "generator", "host" or "api"
    from_s: float | None
    detail: str  # a sentence, for the report and the terminal


class Verdict(_Frozen):
    """Whether the run measured the queue (``lab.analysis.verdict``)."""

    conclusive: bool
    bottlenecks: list[Bottleneck] = Field(default_factory=list)
    unchecked: list[str] = Field(default_factory=list)  # what the run has no data for

    @property
    def line(self) -> str:
        if self.conclusive:
            text = (
                "conclusive: the generator kept to its schedule, the host CPU had room and "
                "the API refused only by back pressure"
            )
            if self.unchecked:
                text = (
                    "conclusive as far as recorded: the generator kept to its schedule and "
                    "the API refused only by back pressure"
                )
        else:
            text = "inconclusive: " + "; ".join(b.detail for b in self.bottlenecks)
        return text + "".join(f" (not checked: {u})" for u in self.unchecked)


class CheckResult(_Frozen):
    """One invariant of the run, judged (``lab.analysis.checks``)."""

    name: str
    passed: bool
    value: float | int | None  # int stays int (a count), as the JSON has it
    limit: float | int | None
    detail: str


class Measurements(_Frozen):
    """Everything measured about a run, before the checks judge it."""

    scenario: str
    seed: int
    run: str
    drained: bool | None
    metrics_source: str | None = None  # "prometheus" or "scrape"
    prometheus: str | None = None  # its version, when the metrics came from one
    metrics_note: str | None = None
    offered: int  # arrivals of the schedule (submits attempted)
    submit: dict[str, int]  # submits by outcome: accepted, rejected, unavailable, error
    submit_errors: int | None = None  # failed other than by a 429 / 503 refusal
    submit_error_reason: str | None = None  # the most frequent reason of those failures
    accepted: int
    states: dict[str, int]  # acknowledged tasks by final state
    succeeded: int
    lost: int
    throughput_per_second: float | None
    latency_s: Percentiles
    send_lag_s: Percentiles
    queue_wait_s: Percentiles = Field(default_factory=Percentiles)
    load_end_s: float
    last_end_s: float | None
    drain_seconds: float | None  # from the end of the schedule; None: it never drained
    executions_beyond_first: int
    retried: int
    lease_expired: int
    duplicates: int
    in_flight_at_kills: int
    kills: int
    redis_restarts: list[RedisRestart] = Field(default_factory=list)
    in_flight_at_partitions: int = 0
    phases: list[Phase]
    queue_depth_max: float | None = None  # most tasks queued, as sampled
    saturation: Saturation | None
    autoscale: AutoscaleSummary | None = None  # an autoscaled run
    recovery: list[FaultRecovery] = Field(default_factory=list)  # one per fault event
    capacity: Capacity | None = None  # backlog mode
    circuit_breaker: BreakerSummary | None = None  # with checks.circuit_breaker
    partition: PartitionSummary | None = None  # with a partition or blackhole event
    load: LoadAccounting | None = None  # None in summaries from before it existed
    resources: Resources | None = None  # None without resources.csv
    verdict: Verdict | None = None


class RunSummary(Measurements):
    """``summary.json``: the measurements and the checks' verdict."""

    checks: list[CheckResult]
    passed: bool

    @classmethod
    def judged(cls, measured: Measurements, checks: list[CheckResult]) -> RunSummary:
        return cls(**dict(measured), checks=checks, passed=all(c.passed for c in checks))
