"""The scenario: one YAML file describes one run (system, load, events, checks, report).

Every field has a unit in its name where it has one. ``Scenario.model_json_schema()`` is
the schema (``lab schema`` prints it); ``lab.scenario.loader`` loads YAML into this model
with errors that name the field and the line. The events are in ``lab.scenario.events``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lab.scenario.events import CUT_OFF_ACTIONS, Event, NetworkEvent
from lab.scenario.limits import (
    MAX_ARRIVALS,
    MAX_CONCURRENCY,
    MAX_DURATION_SECONDS,
    MAX_LIST_ITEMS,
    MAX_MEMORY_MB,
    MAX_PROCESSES,
    MAX_RATE_PER_SECOND,
    MAX_SWEEP_RUNS,
    MAX_WORKERS,
)
from system.api.models import TaskSubmission
from system.config import AutoscaleSettings, QueueSettings

# A mix entry is submitted as it is: the API's own model judges it, and its payload limit.
MAX_PAYLOAD_BYTES = QueueSettings.model_fields["max_payload_bytes"].default
ENV_PREFIX = "TASKQ_"
MODULE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"  # dotted, importable


class _Model(BaseModel):
    # A misspelt field is an error naming it, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


# ---- system ---------------------------------------------------------------------------


class RedisConfig(_Model):
    persistence: Literal["none", "aof-everysec", "aof-always"] = Field(
        "aof-everysec",
        description="none: nothing survives a restart; aof-everysec: up to ~1 s of writes "
        "may be lost on a crash; aof-always: nothing acknowledged is lost.",
    )


class AutoscaleConfig(AutoscaleSettings):
    """The system's autoscaler (``taskq up --autoscale``), its decisions applied by the lab."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _workers_in_reach(self) -> AutoscaleConfig:
        if self.max_workers > MAX_WORKERS:
            raise ValueError(f"max_workers: at most {MAX_WORKERS} (got {self.max_workers})")
        return self


class DockerConfig(_Model):
    """``system.backend: docker``: the image and each role's CPU and memory limits.

    A limit left out (``null``) means none: the role shares the host like a local process.
    CPU limits are CFS quotas (``docker run --cpus``): a 0.25-CPU worker gets at most a
    quarter of one core's time in every 100 ms period, however idle the host is.
    """

    image: str | None = Field(
        None,
        description="Image of every role (it must be in the engine: built from the "
        "project's Dockerfile, or pulled). Default: the lab's own image, built here without "
        "a registry (lab images build) and reused while the source is unchanged.",
    )
    redis_image: str | None = Field(
        None, description="Image for Redis (e.g. redis:7, with a registry); default: image."
    )
    prometheus_image: str | None = Field(
        None, description="Image for Prometheus (e.g. prom/prometheus); default: image."
    )
    worker_cpus: float | None = Field(None, gt=0, le=64, description="CPUs per worker.")
    worker_memory_mb: int | None = Field(
        None, ge=32, le=MAX_MEMORY_MB, description="Memory limit per worker."
    )
    api_cpus: float | None = Field(None, gt=0, le=64, description="CPUs of the API.")
    api_memory_mb: int | None = Field(
        None, ge=32, le=MAX_MEMORY_MB, description="Memory limit of the API."
    )
    redis_cpus: float | None = Field(None, gt=0, le=64, description="CPUs of Redis.")
    redis_memory_mb: int | None = Field(
        None, ge=32, le=MAX_MEMORY_MB, description="Memory limit of Redis."
    )
    prometheus_cpus: float | None = Field(None, gt=0, le=64, description="CPUs of Prometheus.")
    prometheus_memory_mb: int | None = Field(
        None, ge=64, le=MAX_MEMORY_MB, description="Memory limit of Prometheus."
    )


class SystemConfig(_Model):
    backend: Literal["local", "docker"] = Field(
        "local",
        description="local: child processes of the lab; docker: one container per role "
        "(Docker SDK, DOCKER_HOST), with the limits of `docker`.",
    )
    docker: DockerConfig = Field(default_factory=DockerConfig)
    workers: int = Field(2, ge=0, le=MAX_WORKERS, description="Worker processes at the start.")
    concurrency: int = Field(
        16, gt=0, le=MAX_CONCURRENCY, description="Tasks in flight per worker process."
    )
    processes: int = Field(
        1, gt=0, le=MAX_PROCESSES, description="Process pool size per worker (CPU handlers)."
    )
    lease_seconds: float = Field(
        2.0, gt=0, le=MAX_DURATION_SECONDS, description="Lease of a claimed task."
    )
    shutdown_timeout_seconds: float = Field(
        5.0, ge=0, le=MAX_DURATION_SECONDS, description="Grace period of a worker on SIGTERM."
    )
    # Long, so that every record is still there when the run fetches it at the end.
    result_ttl_seconds: float = Field(
        86400.0, gt=0, le=366 * 86400, description="TTL of finished records."
    )
    retry_backoff_seconds: float = Field(
        0.2, ge=0, le=MAX_DURATION_SECONDS, description="Base of the retry backoff."
    )
    max_queue_depth: int | None = Field(
        None,
        gt=0,
        le=MAX_ARRIVALS,
        description="API back pressure: 429 above this many waiting tasks.",
    )
    redis: RedisConfig = Field(default_factory=RedisConfig)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra TASKQ_* variables for workers and the API (no other names: a "
        "PYTHONPATH or LD_PRELOAD would run code in them).",
    )
    imports: list[Annotated[str, Field(pattern=MODULE_NAME)]] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Modules with @task handlers for the API and workers "
        "(lab.faults.handlers: dependency_call, which calls the lab's fault-injectable "
        "dependency).",
    )
    autoscale: AutoscaleConfig | None = Field(
        None,
        description="Let the autoscaler set the worker count (starting from `workers`); "
        "each change is an `autoscale` row in the events table.",
    )
    prometheus: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Start a Prometheus that scrapes the API and workers, and read the "
        "run's metrics from it. auto: when the prometheus binary is on PATH; on: required.",
    )
    prometheus_url: str | None = Field(
        None, description="Read metrics from this Prometheus instead of scraping /metrics."
    )
    network_faults: bool = Field(
        False,
        description="Route the API's and each worker's Redis connection through its own "
        "proxy (lab.faults.toxiproxy: redis-api, redis-worker-N) so network events can hit "
        "them.",
    )

    @field_validator("env")
    @classmethod
    def _taskq_variables_only(cls, value: dict[str, str]) -> dict[str, str]:
        others = sorted(k for k in value if not k.startswith(ENV_PREFIX) or k == ENV_PREFIX)
        if others:
            raise ValueError(f"only {ENV_PREFIX}* variables are allowed, not {', '.join(others)}")
        return value

    @field_validator("prometheus", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 reads unquoted on / off as booleans.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @model_validator(mode="after")
    def _one_prometheus(self) -> SystemConfig:
        if self.prometheus == "on" and self.prometheus_url:
            raise ValueError("prometheus: on starts a Prometheus; prometheus_url names another")
        return self


# ---- load -----------------------------------------------------------------------------


class ConstantArrivals(_Model):
    kind: Literal["constant"]
    rate_per_second: float = Field(gt=0, le=MAX_RATE_PER_SECOND)


class PoissonArrivals(_Model):
    kind: Literal["poisson"]
    rate_per_second: float = Field(gt=0, le=MAX_RATE_PER_SECOND)


class RampArrivals(_Model):
    kind: Literal["ramp"]
    start_rate_per_second: float = Field(ge=0, le=MAX_RATE_PER_SECOND)
    end_rate_per_second: float = Field(gt=0, le=MAX_RATE_PER_SECOND)


class Step(_Model):
    at_seconds: float = Field(ge=0, le=MAX_DURATION_SECONDS)
    rate_per_second: float = Field(ge=0, le=MAX_RATE_PER_SECOND)


class StepArrivals(_Model):
    kind: Literal["step"]
    steps: list[Step] = Field(
        min_length=1, max_length=MAX_LIST_ITEMS, description="Rate from each time on."
    )


class BurstArrivals(_Model):
    kind: Literal["burst"]
    rate_per_second: float = Field(ge=0, le=MAX_RATE_PER_SECOND, description="Rate between bursts.")
    burst_rate_per_second: float = Field(gt=0, le=MAX_RATE_PER_SECOND)
    every_seconds: float = Field(
        gt=0, le=MAX_DURATION_SECONDS, description="A burst starts every this many seconds."
    )
    burst_seconds: float = Field(
        gt=0, le=MAX_DURATION_SECONDS, description="How long a burst lasts."
    )


Arrivals = Annotated[
    ConstantArrivals | PoissonArrivals | RampArrivals | StepArrivals | BurstArrivals,
    Field(discriminator="kind"),
]


class TaskKind(_Model):
    """One kind of task of the mix; its fields are what the API accepts in a submit."""

    task_type: str
    weight: float = Field(1.0, gt=0, le=1e6)
    payload: Any = None
    priority: int = 0
    max_retries: int | None = None

    @model_validator(mode="after")
    def _the_api_accepts_it(self) -> TaskKind:
        body = self.model_dump(exclude={"weight"}, exclude_none=True)
        try:
            TaskSubmission.model_validate(body)
            size = len(json.dumps(self.payload, allow_nan=False))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"]))
            raise ValueError(f"the API would refuse it: {field}: {first['msg']}") from None
        except ValueError as exc:  # NaN or infinity in the payload: not JSON
            raise ValueError(f"the API would refuse it: payload: {exc}") from None
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload: {size} bytes, over the API's {MAX_PAYLOAD_BYTES}")
        return self


class LoadConfig(_Model):
    mode: Literal["open", "closed", "backlog"] = Field(
        "open",
        description="open: arrivals on a schedule, whatever the system does; closed: "
        "`clients` each submit and wait for the result; backlog: `backlog_tasks` submitted "
        "at once, then drained (saturation throughput).",
    )
    duration_seconds: float = Field(
        10.0, gt=0, le=MAX_DURATION_SECONDS, description="How long load is offered."
    )
    arrivals: Arrivals = Field(
        default_factory=lambda: ConstantArrivals(kind="constant", rate_per_second=20)
    )
    mix: list[TaskKind] = Field(
        default_factory=lambda: [TaskKind(task_type="echo", payload={"n": 1})],
        min_length=1,
        max_length=MAX_LIST_ITEMS,
    )
    submit_via: Literal["http", "client"] = Field(
        "http", description="Through the REST API, or straight to Redis with AsyncClient."
    )
    clients: int = Field(
        8, gt=0, le=MAX_CONCURRENCY, description="Closed loop: concurrent clients."
    )
    backlog_tasks: int = Field(
        1000, gt=0, le=MAX_ARRIVALS, description="Backlog mode: tasks submitted at once."
    )
    max_outstanding_requests: int = Field(
        256,
        gt=0,
        le=MAX_CONCURRENCY,
        description="Open loop: the generator's in-flight cap, submits awaiting their answer "
        "at once. At the cap later arrivals are sent late (their send lag shows it; the "
        "report says when the cap bound).",
    )
    retries_when_refused: int = Field(
        3,
        ge=0,
        le=100,
        description="A refused submit (429 back pressure, 503 Redis unreachable) is retried "
        "after its Retry-After this often; then it counts as rejected, not lost.",
    )

    @model_validator(mode="after")
    def _arrivals_fit_in_memory(self) -> LoadConfig:
        # The schedule is built up front, one record per arrival.
        a = self.arrivals
        if isinstance(a, RampArrivals):
            peak = max(a.start_rate_per_second, a.end_rate_per_second)
        elif isinstance(a, StepArrivals):
            peak = max(s.rate_per_second for s in a.steps)
        elif isinstance(a, BurstArrivals):
            peak = max(a.rate_per_second, a.burst_rate_per_second)
        else:
            peak = a.rate_per_second
        if self.mode == "open" and peak * self.duration_seconds > MAX_ARRIVALS:
            raise ValueError(
                f"up to {peak:g}/s for {self.duration_seconds:g} s is over {MAX_ARRIVALS} "
                "arrivals; shorten the load or lower the rate"
            )
        return self


# ---- checks and report ----------------------------------------------------------------


class CircuitBreakerCheck(_Model):
    """What a circuit breaker must show over a ``dependency_down`` event."""

    task_type: str = Field(description="The breaker-guarded task type.")
    max_calls_share_during_fault: float = Field(
        0.3,
        ge=0,
        description="Calls that reached the failing dependency, at most this share of the "
        "type's tasks that arrived during the fault (the rest waited, deferred).",
    )
    other_types_throughput_ratio_above: float = Field(
        0.8, ge=0, description="Other types' throughput during the fault / before it."
    )


class AutoscaleCheck(_Model):
    """What an autoscaled run must show: workers followed the load, the wait was held."""

    peak_workers_at_least: int = Field(
        2, ge=1, description="The autoscaler added workers: at some point this many ran."
    )
    workers_at_load_end_at_most: int | None = Field(
        None, ge=0, description="... and removed them again when the load fell."
    )
    queue_wait_p95_below_seconds: float | None = Field(
        None, gt=0, description="Queue wait (start - eligible) of the tasks, p95."
    )


class PartitionCheck(_Model):
    """What fencing must show over a ``partition`` of a worker longer than its lease."""

    stale_rejected_above: int = Field(
        0, ge=0, description="Late completions of the cut-off worker rejected, more than this."
    )
    redelivered_above: int = Field(0, ge=0, description="Expired leases redelivered.")
    max_results_from_cut_off_worker: int = Field(
        0,
        ge=0,
        description="Tasks it held that were redelivered yet end with its result (overwrites).",
    )
    throughput_recovery_ratio_above: float = Field(
        0.8, ge=0, description="Throughput after the fault is lifted / before it."
    )


class Checks(_Model):
    no_task_lost: bool = Field(True, description="Every acknowledged submit ended.")
    max_duplicates: int | Literal["in_flight_at_kills"] | None = Field(
        "in_flight_at_kills",
        description="Executions beyond the first, at most this many (or the tasks the "
        "killed workers held).",
    )
    drained_within_seconds: float | None = Field(
        None, gt=0, description="All acknowledged tasks ended this soon after load stopped."
    )
    latency_p99_below_seconds: float | None = Field(None, gt=0)
    throughput_above_per_second: float | None = Field(None, gt=0)
    max_queue_depth_below: int | None = Field(
        None, gt=0, description="Tasks waiting (queued), sampled: always under this."
    )
    accepted_share_at_least: float | None = Field(
        0.99,
        ge=0,
        le=1,
        description="Submits acknowledged, at least this share of those sent (None: no "
        "check). Catches a run whose submits were refused (a missing API key: 401, a mix "
        "the API refuses: 422, back pressure: 429) yet whose other checks pass; runs that "
        "test refusals set it lower.",
    )
    no_submit_errors: bool = Field(
        False,
        description="Every submit was acknowledged or refused (429 / 503); none failed "
        "otherwise (a 500, a dropped connection).",
    )
    clean_bill: bool = Field(
        False,
        description="The verdict is conclusive: the generator kept to its schedule, the "
        "host CPU was not saturated and the API refused only by back pressure.",
    )
    circuit_breaker: CircuitBreakerCheck | None = None
    autoscale: AutoscaleCheck | None = None
    partition: PartitionCheck | None = None


class ReportConfig(_Model):
    metrics_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Sampling interval; also the scrape interval of the Prometheus.",
    )
    window_seconds: float = Field(
        1.0, gt=0, le=MAX_DURATION_SECONDS, description="Bucket of the time-series figures."
    )
    drain_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=MAX_DURATION_SECONDS,
        description="How long to wait for the backlog to drain after the load.",
    )
    runaway_latency_seconds: float = Field(
        2.0, gt=0, description="Stress: the p99 latency that counts as running away."
    )
    runaway_backlog_tasks: int = Field(
        1000, gt=0, description="Stress: the queue depth that counts as running away."
    )
    send_lag_limit_seconds: float = Field(
        0.5,
        gt=0,
        description="A submit sent later than this after its scheduled time is late; a run "
        "with more than 1 % late submits (outside fault windows) is inconclusive.",
    )
    host_idle_floor_percent: float = Field(
        5.0,
        ge=0,
        le=100,
        description="Host CPU idle below this counts as saturated; a run saturated in more "
        "than 20 % of its samples while tasks ran is inconclusive.",
    )
    warmup_share: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="Backlog mode: the first completions (this share) are the warm-up, left "
        "out of the capacity (saturation throughput).",
    )
    tail_share: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="Backlog mode: the last completions (this share, when fewer tasks than "
        "slots are left) are left out of the capacity too.",
    )


class SweepConfig(_Model):
    """A grid of runs: every combination of the values, each repeated ``repeat`` times."""

    grid: dict[str, list[Any]] = Field(
        min_length=1,
        description="Dotted field path (as for --set) -> its values, e.g. "
        "system.workers: [1, 2, 4, 8] or load.mix.0.task_type: [io, cpu].",
    )
    repeat: int = Field(1, ge=1, le=100, description="Runs per cell (seed + 0, 1, ...).")
    order: Literal["random", "grid"] = Field(
        "random",
        description="random: every run of every cell in an order shuffled with the "
        "scenario's seed (recorded in sweep.json), so drift on the host (heat, other "
        "load) does not line up with one parameter; grid: cell by cell, as written.",
    )
    precision_share: float | None = Field(
        None,
        gt=0,
        description="The 95 % CI half-width every cell should reach, as a share of its "
        "mean (0.05: ±5 %); the report names the cells that did not (they need more "
        "repetitions or a longer measurement window: load.duration_seconds, backlog_tasks).",
    )

    @model_validator(mode="after")
    def _runs_in_reach(self) -> SweepConfig:
        runs = self.repeat
        for values in self.grid.values():
            runs *= max(1, len(values))
        if runs > MAX_SWEEP_RUNS:
            raise ValueError(f"{runs} runs (cells x repeat); at most {MAX_SWEEP_RUNS}")
        return self


class RateSearchConfig(_Model):
    """Search the highest sustainable offered rate (``lab.analysis.rate_search``): each
    probe is an open-loop run at a constant rate for ``load.duration_seconds``."""

    start_rate_per_second: float = Field(50.0, gt=0, description="The first probe's rate.")
    latency_p99_below_seconds: float = Field(
        1.0, gt=0, description="A probe holds while p99 latency stays under this."
    )
    tolerance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Stop when the highest rate that held and the lowest that failed are "
        "this close (relative).",
    )
    max_probes: int = Field(10, ge=1, le=40, description="At most this many probe runs.")


class Scenario(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = Field("", max_length=10_000)
    seed: int = Field(1, ge=0, lt=2**63)
    system: SystemConfig = Field(default_factory=SystemConfig)
    load: LoadConfig = Field(default_factory=LoadConfig)
    events: list[Event] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    checks: Checks = Field(default_factory=Checks)
    report: ReportConfig = Field(default_factory=ReportConfig)
    sweep: SweepConfig | None = Field(None, description="Run a grid of cells (lab.scenario.sweep).")
    rate_search: RateSearchConfig | None = Field(
        None,
        description="Search the maximum sustainable rate (lab.run.rate_search); with a "
        "sweep, one search per cell and repetition.",
    )

    @model_validator(mode="after")
    def _rate_search_is_open_loop(self) -> Scenario:
        if self.rate_search is not None and self.load.mode != "open":
            raise ValueError("rate_search needs load.mode: open")
        return self

    @model_validator(mode="before")
    @classmethod
    def _backend_moved_to_system(cls, data: Any) -> Any:
        # Results written before system.backend existed have `backend: local` at the top.
        if isinstance(data, dict) and data.get("backend") == "local":
            data = {k: v for k, v in data.items() if k != "backend"}
        return data

    @model_validator(mode="after")
    def _events_in_order(self) -> Scenario:
        for i, event in enumerate(self.events):
            if isinstance(event, NetworkEvent) and not self.system.network_faults:
                raise ValueError(f"events[{i}] ({event.action}) needs system.network_faults: true")
        self.events.sort(key=lambda e: e.at_seconds)
        return self

    @model_validator(mode="after")
    def _events_within_the_run(self) -> Scenario:
        # After the load the run waits at most drain_timeout_seconds; an event later than
        # that would never come (or keep the run waiting for it).
        end = self.load.duration_seconds + self.report.drain_timeout_seconds
        for i, event in enumerate(self.events):
            if event.at_seconds > end:
                raise ValueError(
                    f"events[{i}] at {event.at_seconds:g} s is after the run's end at {end:g} s "
                    "(load.duration_seconds + report.drain_timeout_seconds)"
                )
        return self

    @model_validator(mode="after")
    def _partition_check_needs_a_cut(self) -> Scenario:
        if self.checks.partition is not None and not any(
            e.action in CUT_OFF_ACTIONS for e in self.events
        ):
            raise ValueError("checks.partition needs a partition or blackhole event")
        return self

    @model_validator(mode="after")
    def _autoscale_check_needs_autoscaler(self) -> Scenario:
        if self.checks.autoscale is not None and self.system.autoscale is None:
            raise ValueError("checks.autoscale needs system.autoscale (an autoscaled run)")
        return self
