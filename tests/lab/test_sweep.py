"""Sweeps: the grid's expansion and validation, the aggregate and USL fit over cells
(pure logic on synthetic tables), and a tiny 2 x 2 sweep end to end on real processes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lab.analysis import usl
from lab.analysis.stats import estimate
from lab.report.compare import compare
from lab.report.folder import Sweep, load, write_scenario
from lab.report.sweep import aggregate, cells_table, derive_sweep, usl_fits
from lab.run.sweep import run_order, save_plan, write_plan
from lab.scenario.loader import ScenarioError
from lab.scenario.model import Scenario
from lab.scenario.sweep import expand
from tests.lab.conftest import run_lab

BASE: dict[str, Any] = {
    "name": "tiny_sweep",
    "seed": 4,
    "system": {"workers": 1, "concurrency": 4, "prometheus": "off"},  # seconds per run
    "load": {
        "mode": "backlog",
        "backlog_tasks": 150,
        "submit_via": "client",
        "mix": [{"task_type": "io", "payload": {"ms": 20}}],
    },
    "report": {"metrics_interval_seconds": 0.5, "drain_timeout_seconds": 30},
    "sweep": {"grid": {"system.workers": [1, 2], "system.concurrency": [2, 8]}, "repeat": 1},
}


def test_expand_makes_every_combination_and_repetition() -> None:
    data = {
        **BASE,
        "sweep": {
            "grid": {"system.workers": [1, 2, 4], "load.mix.0.task_type": ["io", "echo"]},
            "repeat": 2,
        },
    }
    cells = expand(Scenario.model_validate(data))
    assert len(cells) == 3 * 2 * 2
    assert {(c.scenario.system.workers, c.scenario.load.mix[0].task_type) for c in cells} == {
        (w, t) for w in (1, 2, 4) for t in ("io", "echo")
    }
    assert {c.scenario.seed for c in cells} == {4, 5}  # seed + repetition
    assert all(c.scenario.sweep is None for c in cells)
    assert len({c.folder for c in cells}) == len(cells)
    assert cells[0].folder == "workers=1_task_type=io_r1"


def test_a_swept_mix_gives_short_distinct_folders_and_json_cells(tmp_path: Path) -> None:
    mixes = [
        [{"task_type": "io", "payload": {"ms": ms, "jitter_ms": 5}, "weight": 3}] * 3
        for ms in (10, 20)
    ]
    cells = expand(Scenario.model_validate({**BASE, "sweep": {"grid": {"load.mix": mixes}}}))
    folders = [c.folder for c in cells]
    assert len(set(folders)) == 2 and all(len(f) <= 83 for f in folders)
    assert [c.scenario.load.mix[0].payload["ms"] for c in cells] == [10, 20]
    plan = {
        "runs": [
            {"folder": c.folder, "values": c.values, "repetition": 1, "seed": 4, "status": "failed"}
            for c in cells
        ]
    }
    table = cells_table(tmp_path, plan)
    assert [json.loads(v)[0]["payload"]["ms"] for v in table["load.mix"]] == [10, 20]
    assert aggregate(table, ["load.mix"]).empty  # no run finished: nothing to aggregate


def test_a_sweep_whose_runs_all_failed_still_gets_a_report(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(BASE)
    write_scenario(scenario, tmp_path)
    plan = write_plan(scenario, expand(scenario), tmp_path)
    for entry in plan["runs"]:
        entry["status"] = "failed"
    save_plan(plan, tmp_path)
    summary = derive_sweep(tmp_path)
    assert summary["runs_done"] == 0 and summary["runs"] == 4
    assert "0 of 4 runs done" in (tmp_path / "report.md").read_text()
    assert len(pd.read_csv(tmp_path / "cells.csv")) == 4


def test_runs_go_in_a_seeded_random_order_unless_the_grid_order_is_asked_for() -> None:
    scenario = Scenario.model_validate(
        {**BASE, "sweep": {"grid": {"system.workers": [1, 2, 4, 8]}, "repeat": 3}}
    )
    order = run_order(scenario, 12)
    assert sorted(order) == list(range(12)) and order != list(range(12))
    assert run_order(scenario, 12) == order  # the seed fixes it
    assert run_order(scenario.model_copy(update={"seed": 2}), 12) != order
    grid = scenario.model_copy(
        update={"sweep": scenario.sweep.model_copy(update={"order": "grid"})}  # type: ignore[union-attr]
    )
    assert run_order(grid, 12) == list(range(12))


def test_a_bad_grid_value_is_an_error_naming_the_field() -> None:
    data = {**BASE, "sweep": {"grid": {"system.workers": [1, -3], "system.concurency": [1]}}}
    with pytest.raises(ScenarioError) as exc:
        expand(Scenario.model_validate(data))
    text = "\n".join(exc.value.errors)
    assert "system.workers=-3" in text and "greater than or equal to 0" in text
    assert "system.concurency" in text and "Extra inputs are not permitted" in text
    with pytest.raises(ScenarioError, match=r"sweep\.grid\.seed: cannot be swept"):
        expand(Scenario.model_validate({**BASE, "sweep": {"grid": {"seed": [1, 2]}}}))


def test_lab_validate_counts_the_runs_and_names_a_bad_cell(
    scenario_file: Callable[..., Path],
) -> None:
    done = run_lab("validate", str(scenario_file(BASE)))
    assert done.returncode == 0 and "a sweep of 4 runs" in done.stdout, done.stderr
    bad = {**BASE, "sweep": {"grid": {"system.workers": [1, "many"]}}}
    done = run_lab("validate", str(scenario_file(bad, "bad.yaml")))
    assert done.returncode == 2
    assert "sweep.grid (system.workers='many'): system.workers:" in done.stderr


def test_aggregate_gives_the_t_interval_per_cell_and_metric() -> None:
    rng = np.random.default_rng(3)
    cells = pd.DataFrame(
        [
            {"system.workers": w, "throughput_per_second": 100 * w + rng.normal(0, 5)}
            for w in (1, 2)
            for _ in range(4)
        ]
    )
    for metric in (
        "max_rate_per_second",
        "capacity_per_second",
        "latency_p50_s",
        "latency_p99_s",
        "drain_seconds",
        "succeeded",
        "lost",
        "duplicates",
    ):
        cells[metric] = np.nan
    agg = aggregate(cells, ["system.workers"])
    assert set(agg["metric"]) == {"throughput_per_second"}  # all-NaN metrics are left out
    for w in (1, 2):
        row = agg[agg["system.workers"] == w].iloc[0]
        e = estimate(cells[cells["system.workers"] == w]["throughput_per_second"])
        assert row["n"] == 4 and row["mean"] == pytest.approx(e.mean)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((e.ci_low, e.ci_high))
        assert row["ci_low"] < 100 * w < row["ci_high"]


def test_usl_fit_per_group_recovers_known_parameters() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for conc, (lam, sigma, kappa) in {2: (100.0, 0.05, 0.002), 8: (400.0, 0.2, 0.01)}.items():
        for w in (1, 2, 4, 8, 16):
            for _ in range(3):
                x = float(usl.throughput(w, lam, sigma, kappa)) * (1 + rng.normal(0, 0.01))
                rows.append({"system.workers": w, "system.concurrency": conc, "capacity": x})
    fits = usl_fits(pd.DataFrame(rows), ["system.workers", "system.concurrency"], "capacity", 1)
    by_conc = {f["group"]["system.concurrency"]: f for f in fits}
    assert by_conc[2]["lambda"] == pytest.approx(100, rel=0.05)
    assert by_conc[8]["sigma"] == pytest.approx(0.2, abs=0.05)
    assert by_conc[8]["kappa"] == pytest.approx(0.01, rel=0.3)
    assert by_conc[8]["sigma_ci_low"] <= by_conc[8]["sigma"] <= by_conc[8]["sigma_ci_high"]
    assert by_conc[8]["r_squared"] > 0.98 and len(by_conc[8]["residuals"]) == 15


@pytest.mark.timeout(540)
def test_tiny_sweep_end_to_end(scenario_file: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "results"
    # Four runs, each starting its own Redis, API and workers: about 25 s on an idle
    # machine, several times that on a loaded one.
    done = run_lab("run", str(scenario_file(BASE)), "--out", str(out), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = list(out.iterdir())
    sweep = load(folder)
    assert isinstance(sweep, Sweep)
    assert len(sweep.cells) == 4 and (sweep.cells["status"] == "done").all()
    # The order the runs went in is recorded: every run once, numbered.
    assert sorted(sweep.meta["order"]) == sorted(sweep.cells["folder"])
    assert sorted(r["run_order"] for r in sweep.meta["runs"]) == [1, 2, 3, 4]
    assert sorted(p.name for p in (folder / "cells").iterdir()) == sorted(sweep.cells["folder"])
    cap = sweep.aggregate[sweep.aggregate["metric"] == "capacity_per_second"]
    assert len(cap) == 4 and (cap["n"] == 1).all() and (cap["mean"] > 0).all()
    # Each cell's capacity is its run's own, and more slots drain faster.
    for _, cell in sweep.cells.iterrows():
        run = sweep.run(cell["folder"])
        assert run.scenario.system.workers == cell["system.workers"]
        assert run.summary is not None and run.summary.capacity is not None
        assert run.summary.capacity.per_second == cell["capacity_per_second"]
        assert run.summary.succeeded == 150
    means = cap.set_index(["system.workers", "system.concurrency"])["mean"]
    assert means[(2, 8)] > means[(1, 2)]
    assert (folder / "figures" / "scaling.png").stat().st_size > 0
    text = (folder / "report.md").read_text()
    assert "Sweep of scenario `tiny_sweep`" in text and "Verdict:" in text
    assert sweep.cells["conclusive"].notna().all()  # every run judged
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["runs_done"] == 4 and summary["scaling_metric"] == "capacity_per_second"
    # lab compare takes a sweep: one table row per run, and its scaling curve.
    table = compare([folder], tmp_path / "cmp")
    assert len(table) == 4 and set(table["capacity_per_second"]) == set(cap["mean"])
    assert (tmp_path / "cmp" / "figures" / "scaling.png").exists()
    # lab report on a copy without derived files gives the same tables.
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for name in ("aggregate.csv", "cells.csv", "summary.json", "report.md"):
        (copy / name).unlink()
    shutil.rmtree(copy / "cells" / sweep.cells["folder"][0] / "figures")
    # Every run's figures again, each a 300 dpi PNG and a PDF: 20 s idle, minutes loaded.
    assert run_lab("report", str(copy), timeout=240).returncode == 0
    again = load(copy)
    assert isinstance(again, Sweep)
    pd.testing.assert_frame_equal(again.aggregate, sweep.aggregate)
    assert (copy / "cells" / sweep.cells["folder"][0] / "figures" / "throughput.png").exists()
