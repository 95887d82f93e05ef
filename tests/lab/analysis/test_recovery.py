"""Recovery metrics on synthetic tables whose answers are known by construction: a steady
100 tasks/s, a fault that stops completions for a while, a backlog that builds and
drains, latencies that rise for the tasks caught in the fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab.analysis.capacity import drain_capacity
from lab.analysis.recovery import recovery

RATE = 100.0  # tasks/s


def steady_tasks(gap: tuple[float, float] | None = None, duration: float = 20.0) -> pd.DataFrame:
    """Arrivals every 10 ms with 50 ms latency; in the gap nothing finishes, and what
    arrived meanwhile finishes at its end (a catch-up burst)."""
    intended = np.arange(0.0, duration, 1 / RATE)
    finished = intended + 0.05
    if gap is not None:
        held = (finished >= gap[0]) & (finished < gap[1])
        finished = np.where(held, gap[1] + (finished - gap[0]) * 0.01, finished)
    return pd.DataFrame(
        {
            "intended_s": intended,
            "started_s": intended,
            "finished_s": finished,
            "latency_s": finished - intended,
            "state": "succeeded",
            "submit": "accepted",
            "attempts": 1,
            "error": "",
            "acked_s": intended,
            "sent_s": intended,
            "refusals": 0,
        }
    )


def event(
    action: str, at: float, lifted: float | None = None, detail: str = ""
) -> dict[str, object]:
    return {
        "index": 0,
        "action": action,
        "detail": detail,
        "requested_s": at,
        "effective_s": at,
        "lifted_s": lifted,
        "in_flight": 0,
    }


def depth_series(gap: tuple[float, float]) -> pd.Series[float]:
    t = np.arange(0.0, 20.0, 0.5)
    queued = np.where((t >= gap[0]) & (t < gap[1]), (t - gap[0]) * RATE, 0.0)
    return pd.Series(queued, index=t)


def test_a_stall_is_measured_from_its_start_to_the_recovered_window() -> None:
    gap = (8.0, 11.0)
    tasks = steady_tasks(gap)
    tasks.loc[tasks["intended_s"].between(8.0, 8.2), "attempts"] = 2  # retried: not a sign
    tasks.loc[tasks["intended_s"].between(8.0, 8.2), "error"] = "planned failure"
    events = pd.DataFrame([event("kill_worker", 8.0)])
    # The lease_expired counter, sampled every 0.5 s: 3 before (an earlier fault), 5 at 9.5.
    reclaimed = pd.Series([3.0, 3.0, 3.0, 5.0, 5.0], index=[7.0, 8.5, 9.0, 9.5, 10.0])
    (row,) = recovery(tasks, events, depth_series(gap), 20.0, reclaimed=reclaimed)
    assert row.action == "kill_worker" and (row.start_s, row.end_s) == (8.0, 8.0)
    assert row.throughput_before_per_second == pytest.approx(RATE, rel=0.02)
    assert row.noticed_after_s == pytest.approx(1.5)
    # Trailing 2 s windows (200 completions at 100/s), checked every second: the one
    # ending at 12 s is the first to hold the catch-up burst after 11 s.
    assert row.recovered_after_s == pytest.approx(4.0)
    assert row.fault_window_s == pytest.approx(4.0)
    assert row.peak_backlog_tasks == pytest.approx(250, abs=1)
    # Tasks that arrived in the stall waited for its end: up to ~3 s more at p99.
    assert 2.5 < row.latency_p99_extra_s < 3.0
    assert row.latency_p50_extra_s > 1.0
    assert 2.9 < row.latency_max_in_fault_s <= 3.05


def test_poisson_noise_alone_is_not_a_dip() -> None:
    rng = np.random.default_rng(11)
    finished = np.sort(rng.uniform(0.0, 60.0, int(60 * RATE)))  # Poisson, 100/s
    tasks = steady_tasks(duration=60.0).assign(finished_s=finished)
    events = pd.DataFrame([event("kill_worker", at) for at in (10.0, 25.0, 40.0)])
    rows = recovery(tasks, events, pd.Series(dtype=float), load_end_s=60.0)
    assert [r.recovered_after_s for r in rows] == [0.0, 0.0, 0.0]


def test_a_fault_without_a_dip_recovers_at_once_and_nobody_notices() -> None:
    tasks = steady_tasks()
    events = pd.DataFrame([event("kill_worker", 10.0)])
    (row,) = recovery(tasks, events, pd.Series(dtype=float), load_end_s=20.0)
    assert row.recovered_after_s == 0.0
    assert row.noticed_after_s is None
    assert row.latency_p99_extra_s == pytest.approx(0.0, abs=1e-9)
    assert row.peak_backlog_tasks is None


def test_no_recovery_before_the_end_of_the_load_is_none() -> None:
    gap = (15.0, 40.0)
    events = pd.DataFrame([event("pause", 15.0, detail="target=worker which=random")])
    (row,) = recovery(steady_tasks(gap), events, depth_series(gap), load_end_s=20.0)
    assert row.recovered_after_s is None
    assert row.end_s == 15.0  # no resume: instant
    assert row.peak_backlog_tasks == pytest.approx(450, abs=1)


def test_pause_ends_at_its_resume_and_scaling_is_not_a_fault() -> None:
    events = pd.DataFrame(
        [
            event("scale_workers", 3.0),
            event("pause", 8.0, detail="target=redis which=random"),
            event("resume", 9.5, detail="target=redis"),
        ]
    )
    rows = recovery(steady_tasks((8.0, 9.5)), events, depth_series((8.0, 9.5)), 20.0)
    assert [(r.action, r.end_s) for r in rows] == [("pause", 9.5)]


def test_a_network_partition_is_a_fault_that_ends_when_lifted() -> None:
    gap = (6.0, 9.0)
    events = pd.DataFrame([event("partition", 6.0, lifted=9.0, detail="target=worker")])
    (row,) = recovery(steady_tasks(gap), events, depth_series(gap), 20.0)
    assert (row.action, row.end_s) == ("partition", 9.0)
    assert row.recovered_after_s == pytest.approx(4.0)  # as the stall above


def test_failed_dependency_calls_and_refused_submits_are_noticed() -> None:
    events = pd.DataFrame([event("dependency_down", 5.0, lifted=6.0)])
    calls = pd.DataFrame({"time_s": [4.0, 5.3, 5.6], "status": [200, 503, 503]})
    (row,) = recovery(steady_tasks(), events, pd.Series(dtype=float), 20.0, dependency=calls)
    assert row.noticed_after_s == pytest.approx(0.3)
    tasks = steady_tasks()
    tasks.loc[tasks["intended_s"].between(12.095, 12.105), "refusals"] = 1  # a 503 at 12.1
    events = pd.DataFrame([event("restart_redis", 12.0)])
    (row,) = recovery(tasks, events, pd.Series(dtype=float), 20.0)
    assert row.noticed_after_s == pytest.approx(0.1, abs=1e-6)


def test_a_symptom_is_noticed_only_by_the_fault_whose_stretch_it_falls_in() -> None:
    # A restart that refused nothing (requested at 2, back at 2.5), then Redis paused at 6
    # and a refusal at 6.5: the refusal is the pause's, not the restart's.
    tasks = steady_tasks()
    tasks.loc[tasks["intended_s"].between(6.495, 6.505), "refusals"] = 1
    restart = {**event("restart_redis", 2.0), "effective_s": 2.5}
    pause = {**event("pause", 6.0, detail="target=redis"), "index": 1}
    resume = {**event("resume", 7.0, detail="target=redis"), "index": 2}
    rows = recovery(tasks, pd.DataFrame([restart, pause, resume]), pd.Series(dtype=float), 20.0)
    by_action = {r.action: r for r in rows}
    assert by_action["restart_redis"].noticed_after_s is None
    assert by_action["pause"].noticed_after_s == pytest.approx(0.5, abs=1e-6)
    # A refusal while the restart had not taken effect yet is the restart's (at its start).
    tasks.loc[tasks["intended_s"].between(2.195, 2.205), "refusals"] = 1
    rows = recovery(tasks, pd.DataFrame([restart, pause, resume]), pd.Series(dtype=float), 20.0)
    assert rows[0].noticed_after_s == 0.0


def test_drain_capacity_leaves_out_warm_up_and_tail() -> None:
    # 1000 tasks: a slow start (first 100 over 2 s), then 200/s, then a slow tail.
    finished = np.concatenate(
        [np.linspace(0.0, 2.0, 100), 2.0 + np.arange(1, 801) / 200, np.linspace(6.1, 9.0, 100)]
    )
    tasks = pd.DataFrame(
        {"finished_s": finished, "state": "succeeded", "submit": "accepted", "acked_s": 0.5}
    )
    cap = drain_capacity(tasks, warmup_share=0.1, tail_share=0.1)
    assert cap is not None
    assert cap.per_second == pytest.approx(200, rel=0.01)
    assert cap.tasks_succeeded == 1000 and cap.tasks_counted == 799
    everything = drain_capacity(tasks, warmup_share=0.0, tail_share=0.0)
    assert everything is not None and everything.per_second < 150
    # The window cannot start before the backlog was complete.
    late = drain_capacity(tasks.assign(acked_s=4.0), 0.1, 0.1)
    assert late is not None and late.from_s == 4.0
    assert drain_capacity(tasks.head(5), 0.1, 0.1) is None
