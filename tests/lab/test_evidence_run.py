"""A real run whose load generator cannot keep up (an in-flight cap of one submit against
2000 arrivals per second) is labelled inconclusive, on the terminal and in the report, and
fails a check that requires a clean bill."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.lab.conftest import run_lab

SLOW_GENERATOR = {
    "name": "slow_generator",
    "seed": 5,
    "system": {"workers": 1, "concurrency": 8, "prometheus": "off"},
    "load": {
        "duration_seconds": 1.5,
        "arrivals": {"kind": "constant", "rate_per_second": 2000},
        "mix": [{"task_type": "echo", "payload": {"x": 1}}],
        "max_outstanding_requests": 1,  # one submit at a time: the generator is the limit
    },
    "checks": {"clean_bill": True, "drained_within_seconds": 60},
    "report": {"drain_timeout_seconds": 60},
}


def test_a_saturated_generator_gets_an_inconclusive_verdict(
    scenario_file: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(SLOW_GENERATOR)), "--out", str(out), timeout=150)
    assert done.returncode == 1, done.stdout + done.stderr  # clean_bill failed
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    kinds = [b["what"] for b in summary["verdict"]["bottlenecks"]]
    assert not summary["verdict"]["conclusive"] and "generator" in kinds
    load = summary["load"]
    assert load["capped_submits"] > 0 and load["late_submits"] > 0
    # Sent after the schedule ended: the drain counts from the schedule's end (1.5 s).
    assert load["last_sent_s"] > load["schedule_end_s"] + 0.5
    assert load["schedule_end_s"] == 1.5
    # Both are stored rounded to the millisecond: compare at that resolution (3.823 against
    # 5.323 - 1.5 = 3.8230000000000004 failed once when the last task ended within 1 ms).
    assert summary["drain_seconds"] >= round(load["last_sent_s"] - 1.5, 3)
    assert "verdict: inconclusive: the load generator fell behind" in done.stdout
    assert "[FAIL] clean_bill" in done.stdout
    report = (run_dir / "report.md").read_text()
    assert "**Verdict: inconclusive" in report
    assert "in-flight cap (load.max_outstanding_requests = 1) bound" in report
