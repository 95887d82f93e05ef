"""autoscaling.yaml in a short form: the system's autoscaler, applied by the lab, adds
workers when the load steps up and removes them when it steps down; each change is in
the events table, and the worker count the lab sampled follows it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from tests.lab.conftest import REPO, run_lab


def test_workers_follow_a_step_load(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    scenario = yaml.safe_load((REPO / "scenarios" / "autoscaling.yaml").read_text())
    scenario["system"]["autoscale"] |= {
        "scale_up_cooldown_seconds": 2,
        "scale_down_cooldown_seconds": 3,
    }
    scenario["load"] |= {
        # 23 s after the step down: scaling down goes one worker per cooldown (3 s) plus
        # the time a worker takes to stop, from as many as 6 workers to at most 2.
        "duration_seconds": 40,
        "arrivals": {
            "kind": "step",
            "steps": [
                {"at_seconds": 0, "rate_per_second": 10},
                {"at_seconds": 5, "rate_per_second": 60},
                {"at_seconds": 17, "rate_per_second": 5},
            ],
        },
    }
    scenario["report"] = {"drain_timeout_seconds": 30, "metrics_interval_seconds": 0.5}
    # The high step lasts 12 s here (30 s in the scenario), and each scale-up waits for new
    # worker processes to start: about a second each on an idle machine, several on a
    # loaded one, which weighs far more in 12 s. One worker alone would let the backlog
    # grow by 40 tasks/s for 12 s (over 20 s of wait at its 20 tasks/s), so 6 s still
    # shows that scaling kept the wait down.
    scenario["checks"]["autoscale"]["queue_wait_p95_below_seconds"] = 6
    out = tmp_path / "results"
    done = run_lab("run", str(scenario_file(scenario)), "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    events = pd.read_csv(run_dir / "events.csv")
    changes = events[events["action"] == "autoscale"]
    assert len(changes) == summary["autoscale"]["changes"] >= 2
    assert changes["effective_s"].notna().all() and (changes["note"].isna()).all()
    counts = changes["detail"].str.extract(r"^(\d+) -> (\d+)").astype(int)
    # Up while the load is high, then down after it fell.
    assert (counts[1] > counts[0]).any() and (counts[1] < counts[0]).any()
    first_up = changes["effective_s"][counts[1] > counts[0]].min()
    last_down = changes["effective_s"][counts[1] < counts[0]].max()
    assert 5 <= first_up < 17 < last_down
    assert summary["autoscale"]["peak_workers"] >= 3
    assert summary["autoscale"]["workers_at_load_end"] <= 2
    assert summary["lost"] == 0 and summary["passed"], summary["checks"]
