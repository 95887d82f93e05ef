"""Load accounting, resources and the verdict on synthetic tables whose answers are known
by construction: a generator that keeps its schedule or falls behind, a host that has
room or none, refusals inside and outside a fault window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.analysis import resources, verdict
from lab.analysis.load import account
from lab.analysis.summary import saturation
from lab.scenario.model import Scenario

T0 = 1_000.0  # epoch seconds of the load's start
RATE = 50.0


def tasks(duration: float = 10.0, lag_from: float | None = None) -> pd.DataFrame:
    """Arrivals at RATE, sent on time; from ``lag_from`` on, each later by 1 s more per s."""
    intended = np.arange(0.0, duration, 1 / RATE)
    lag = np.zeros_like(intended) + 0.002
    if lag_from is not None:
        lag = np.where(intended >= lag_from, 0.002 + (intended - lag_from), lag)
    sent = intended + lag
    return pd.DataFrame(
        {
            "intended_s": intended,
            "sent_s": sent,
            "acked_s": sent + 0.005,
            "send_lag_s": lag,
            "submit": "accepted",
            "refusals": 0,
            "refused_429": 0,
            "refused_503": 0,
            "capped": (lag > 0.5).astype(int),
            "state": "succeeded",
            "finished_s": sent + 0.05,
            "latency_s": sent + 0.05 - intended,
        }
    )


def no_events() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["index", "action", "detail", "requested_s", "effective_s", "lifted_s"]
    )


def host_table(idle: list[float], interval: float = 1.0) -> pd.DataFrame:
    """resources.csv rows: the host idle as given, the lab at 40 % of a core, a worker."""
    rows = []
    for i, free in enumerate(idle):
        at = T0 + i * interval
        rows.append((at, "host_cpu_percent", "instance=host,job=lab,mode=idle", free))
        rows.append((at, "host_cpu_percent", "instance=host,job=lab,mode=user", 100 - free))
        rows.append((at, "host_cpus", "instance=host,job=lab", 2.0))
        rows.append((at, "process_cpu_percent", "job=lab,process=lab,role=lab", 40.0))
        rows.append((at, "process_cpu_percent", "job=lab,process=worker-1,role=worker", 30.0))
        rows.append((at, "process_cpu_percent", "job=lab,process=worker-2,role=worker", 20.0))
        rows.append((at, "process_rss_bytes", "job=lab,process=worker-1,role=worker", 1e8))
    return pd.DataFrame(rows, columns=["time", "metric", "labels", "value"])


SCENARIO = Scenario(name="synthetic", load={"duration_seconds": 10})  # type: ignore[arg-type]


def test_a_generator_on_schedule_on_an_idle_host_is_conclusive() -> None:
    t = tasks()
    load = account(t, SCENARIO, 10.0)
    used = resources.summarize(host_table([60.0] * 12), T0, [], 10.0, 5.0)
    v = verdict.judge(t, no_events(), load, used)
    assert v.conclusive and v.bottlenecks == []
    assert v.line.startswith("conclusive")
    assert load.offered == load.sent == load.accepted == 500 and load.late_submits == 0
    assert used is not None and used.host_saturated_share == 0.0
    (during, after) = used.phases
    assert (during.label, after.label) == ("load", "after load")
    assert during.host_busy_percent == 40.0
    assert during.cpu_percent == {"lab": 40.0, "worker": 50.0}  # a role sums its processes
    assert during.rss_bytes_max == {"worker": 1e8}


def test_a_run_without_resources_says_the_host_was_not_checked() -> None:
    t = tasks()
    v = verdict.judge(t, no_events(), account(t, SCENARIO, 10.0), None)
    assert v.conclusive and v.unchecked and "not checked: the host" in v.line


def test_a_generator_that_falls_behind_makes_the_run_inconclusive_from_then() -> None:
    t = tasks(lag_from=6.0)
    load = account(t, SCENARIO, 14.0)
    v = verdict.judge(t, no_events(), load, None)
    (b,) = v.bottlenecks
    assert not v.conclusive and b.what == "generator"
    assert 6.0 <= b.from_s <= 6.6  # late beyond 0.5 s from 6.5 s on
    assert "in-flight cap" in b.detail and v.line.startswith("inconclusive: the load generator")
    # A backlog is submitted at once, not on a schedule: its send lag judges nothing.
    assert verdict.judge(t, no_events(), load, None, scheduled=False).conclusive
    # Drain counts from the end of the schedule (10 s), not from the last send.
    assert load.schedule_end_s == 10.0 and load.last_sent_s is not None
    assert load.last_sent_s > 13.0 and load.capped_submits == load.late_submits > 0


def test_a_saturated_host_makes_the_run_inconclusive() -> None:
    idle = [50.0, 40.0] + [1.0] * 10
    used = resources.summarize(host_table(idle), T0, [], 10.0, 5.0)
    assert used is not None and used.host_saturated_share == 0.8
    assert used.host_saturated_from_s == 2.0
    t = tasks()
    v = verdict.judge(t, no_events(), account(t, SCENARIO, 10.0), used)
    (b,) = v.bottlenecks
    assert b.what == "host" and "80%" in b.detail


def test_503s_count_against_the_api_only_outside_fault_windows() -> None:
    t = tasks()
    inside = (t["sent_s"] > 4.0) & (t["sent_s"] < 5.0)
    t.loc[inside, "refused_503"] = 1
    t.loc[inside, "refusals"] = 1
    pause = pd.DataFrame(
        [
            {"index": 0, "action": "pause", "detail": "target=redis which=random",
             "requested_s": 3.9, "effective_s": 3.95, "lifted_s": None},
            {"index": 1, "action": "resume", "detail": "target=redis",
             "requested_s": 5.0, "effective_s": 5.0, "lifted_s": None},
        ]
    )  # fmt: skip
    load = account(t, SCENARIO, 10.0)
    assert load.refused_503 == int(inside.sum()) > 0 and load.refused_429 == 0
    assert verdict.judge(t, pause, load, None).conclusive
    t.loc[t["sent_s"] > 8.0, "submit"] = "error"  # failures after the fault: the API's
    v = verdict.judge(t, pause, account(t, SCENARIO, 10.0), None)
    (b,) = v.bottlenecks
    assert b.what == "api" and b.from_s is not None and b.from_s > 8.0


def test_a_run_from_before_refusals_by_reason_reads_its_final_outcomes() -> None:
    t = tasks().drop(columns=["refused_429", "refused_503", "capped"])
    t["refused_429"] = t["refused_503"] = t["capped"] = float("nan")
    t.loc[:9, "submit"] = "rejected"
    t.loc[10:12, "submit"] = "unavailable"
    load = account(t, SCENARIO, 10.0)
    assert (load.refused_429, load.refused_503, load.refused_in_the_end) == (10, 3, 13)


def windows_table(p99: list[float], offered: float, completed: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start_s": np.arange(len(p99), dtype=float),
            "offered_per_s": offered,
            "completed_per_s": completed,
            "p99_s": p99,
        }
    )


def test_saturation_needs_a_steady_overload_outside_fault_stretches() -> None:
    depth = pd.Series(dtype=float)
    # A lease-redelivery spike after a kill at 3 s: two slow windows, in the fault's stretch.
    spike = windows_table([0.1] * 4 + [3.0, 3.0] + [0.1] * 4, 50.0, [50.0] * 10)
    assert saturation(spike, depth, 2.0, 1000, [(3.0, 6.0)], 10.0) is None
    # The same two windows with no fault: not steady (fewer than three in a row).
    assert saturation(spike, depth, 2.0, 1000, [], 10.0) is None
    # After the load (nothing offered, the backlog draining): not a saturation either.
    tail = windows_table([0.1] * 5 + [3.0] * 5, 0.0, [50.0] * 10)
    assert saturation(tail, depth, 2.0, 1000, [], 5.0) is None
    # Arrivals outpacing completions, slow for good from 4 s: saturated at 4 s.
    ramp = windows_table([0.1] * 4 + [3.0] * 6, 80.0, [80.0] * 4 + [50.0] * 6)
    found = saturation(ramp, depth, 2.0, 1000, [], 10.0)
    assert found is not None and found.at_s == 4.0 and found.offered_per_second == 80.0
    # Slow but keeping up with what arrives (completions >= arrivals): not a saturation.
    even = windows_table([0.1] * 4 + [3.0] * 6, 50.0, [50.0] * 10)
    assert saturation(even, depth, 2.0, 1000, [], 10.0) is None


def test_a_host_saturated_while_a_backlog_drains_counts() -> None:
    # Submitted in 2 s on an idle host, drained until 10 s on a saturated one.
    used = resources.summarize(host_table([60.0] * 2 + [1.0] * 10), T0, [], 2.0, 5.0, 10.0)
    assert used is not None and used.host_saturated_share is not None
    assert used.host_saturated_share == 0.8 and used.host_saturated_from_s == 2.0  # 8 of 10
    assert [p.label for p in used.phases] == ["load", "after load"]
