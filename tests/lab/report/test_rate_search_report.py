"""A rate search's report from its probes' stored summaries (no service needed): the rate
found is the highest that held below the lowest that failed, and the curve is drawn."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from lab.report.rate_search import RATE_SEARCH_FILE, derive_rate_search
from tests.lab.conftest import REPO

EXAMPLE = REPO / "results" / "examples" / "fault_run"


def probe_folder(folder: Path, name: str, p99_s: float, throughput: float) -> None:
    """A probe's run folder holding only its summary (the example run's, changed)."""
    summary = json.loads((EXAMPLE / "summary.json").read_text())
    summary["latency_s"]["p99"] = p99_s
    summary["throughput_per_second"] = throughput
    summary["drain_seconds"] = p99_s  # the last tasks end about then
    (folder / "probes" / name).mkdir(parents=True)
    (folder / "probes" / name / "summary.json").write_text(json.dumps(summary))


def test_the_report_of_a_search_names_the_rate_and_draws_its_curve(tmp_path: Path) -> None:
    scenario = yaml.safe_load((EXAMPLE / "scenario.resolved.yaml").read_text())
    scenario["events"] = []
    scenario["rate_search"] = {"start_rate_per_second": 50, "latency_p99_below_seconds": 1}
    (tmp_path / "scenario.resolved.yaml").write_text(yaml.safe_dump(scenario))
    probes = [(50.0, 0.2, 50.0), (100.0, 0.3, 99.0), (200.0, 5.0, 120.0), (150.0, 0.6, 149.0)]
    plan = {"search": "s", "probes": []}
    for k, (rate, p99, tput) in enumerate(probes, 1):
        name = f"{k}-rate={rate:g}"
        probe_folder(tmp_path, name, p99, tput)
        plan["probes"].append({"rate": rate, "folder": name, "status": "done"})
    (tmp_path / RATE_SEARCH_FILE).write_text(json.dumps(plan))
    summary = derive_rate_search(tmp_path)
    assert summary["max_sustainable_rate_per_second"] == 150.0
    assert summary["lowest_failed_rate_per_second"] == 200.0
    assert [p["holds"] for p in summary["probes"]] == [True, True, False, True]
    for ext in ("png", "pdf"):
        assert (tmp_path / "figures" / f"rate_search.{ext}").stat().st_size > 0
    assert "maximum sustainable rate is **150 tasks/s**" in (tmp_path / "report.md").read_text()


def test_a_sweep_of_searches_tabulates_each_cells_rate(tmp_path: Path) -> None:
    from lab.report.sweep import cells_table, scaling_metric

    plan = {"runs": []}
    for workers, best in ((1, 120.0), (2, 230.0)):
        cell = tmp_path / "cells" / f"workers={workers}_r1"
        cell.mkdir(parents=True)
        (cell / RATE_SEARCH_FILE).write_text(json.dumps({"search": cell.name, "probes": []}))
        (cell / "summary.json").write_text(json.dumps({"max_sustainable_rate_per_second": best}))
        plan["runs"].append(
            {
                "folder": cell.name,
                "values": {"system.workers": workers},
                "repetition": 1,
                "seed": 1,
                "status": "done",
            }
        )
    cells = cells_table(tmp_path, plan)
    assert list(cells["max_rate_per_second"]) == [120.0, 230.0]
    assert scaling_metric(cells) == "max_rate_per_second"
    assert cells["capacity_per_second"].isna().all()
