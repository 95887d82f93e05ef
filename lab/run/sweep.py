"""Running a sweep: its plan (``sweep.json``: every run's folder, values, seed and status,
saved after each run), every cell in turn, then the sweep's tables and report. The grid
itself (cells, folders, validation) is ``lab.scenario.sweep``."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.analysis.model import RunSummary
from lab.report.derive import write_results
from lab.report.folder import SWEEP_FILE, write_scenario
from lab.report.sweep import derive_sweep
from lab.run.environment import invocation
from lab.run.runner import execute
from lab.scenario.model import Scenario
from lab.scenario.sweep import Cell, expand


def write_plan(scenario: Scenario, cells: list[Cell], sweep_dir: Path) -> dict[str, Any]:
    assert scenario.sweep is not None
    plan: dict[str, Any] = {
        "sweep": sweep_dir.name,
        "grid": scenario.sweep.grid,
        "repeat": scenario.sweep.repeat,
        "runs": [
            {
                "folder": c.folder,
                "values": c.values,
                "repetition": c.repetition + 1,
                "seed": c.scenario.seed,
                "status": "planned",
            }
            for c in cells
        ],
    }
    save_plan(plan, sweep_dir)
    return plan


def save_plan(plan: dict[str, Any], sweep_dir: Path) -> None:
    (sweep_dir / SWEEP_FILE).write_text(json.dumps(plan, indent=2) + "\n")


def run_sweep(
    scenario: Scenario,
    sweep_dir: Path,
    echo: Callable[[str], None],
    overrides: tuple[str, ...] = (),
) -> int:
    """Run every cell in turn (a cell that fails is recorded and the sweep goes on);
    then derive the sweep's tables and report. Returns the number of failed runs."""
    cells = expand(scenario)
    write_scenario(scenario, sweep_dir)
    plan = write_plan(scenario, cells, sweep_dir)
    failed = 0
    order = run_order(scenario, len(cells))
    plan["order"] = [cells[k].folder for k in order]
    for position, k in enumerate(order, 1):
        plan["runs"][k]["run_order"] = position
    save_plan(plan, sweep_dir)
    for i, k in enumerate(order, 1):
        cell, entry = cells[k], plan["runs"][k]
        run_dir = sweep_dir / "cells" / cell.folder
        run_dir.mkdir(parents=True)
        write_scenario(cell.scenario, run_dir)
        echo(f"lab: sweep run {i}/{len(cells)}: {cell.folder}")
        if cell.scenario.rate_search is not None:  # a search per configuration
            failed += _search(cell, entry, run_dir, echo, overrides)
            save_plan(plan, sweep_dir)
            continue
        try:
            raw = execute(cell.scenario, run_dir)
        except KeyboardInterrupt:
            entry["status"] = "interrupted"
            save_plan(plan, sweep_dir)
            raise
        except Exception as exc:
            entry["status"], entry["error"] = "failed", f"{type(exc).__name__}: {exc}"
            failed += 1
            echo(f"lab: the run failed: {entry['error']} (logs: {run_dir / 'logs'})")
        else:
            raw.environment |= invocation(overrides) | {"sweep_cell": cell.values}
            summary = write_results(cell.scenario, raw, run_dir)
            entry["status"] = "done"
            echo(f"  throughput {summary.throughput_per_second} tasks/s{_capacity(summary)}")
            if summary.verdict is not None:
                echo(f"  verdict: {summary.verdict.line}")
        save_plan(plan, sweep_dir)
    derive_sweep(sweep_dir, runs_too=False)
    return failed


def _search(
    cell: Cell,
    entry: dict[str, Any],
    run_dir: Path,
    echo: Callable[[str], None],
    overrides: tuple[str, ...],
) -> int:
    """One cell's rate search in its folder; 1 when it failed, else 0."""
    from lab.run.rate_search import run_rate_search  # it imports this stage's runner

    try:
        best = run_rate_search(cell.scenario, run_dir, echo, overrides)
    except KeyboardInterrupt:
        entry["status"] = "interrupted"
        raise
    except Exception as exc:
        entry["status"], entry["error"] = "failed", f"{type(exc).__name__}: {exc}"
        echo(f"lab: the search failed: {entry['error']}")
        return 1
    entry["status"] = "done"
    echo(f"  max sustainable rate {best} tasks/s")
    return 0


def run_order(scenario: Scenario, n: int) -> list[int]:
    """The runs' indices in the order they run: shuffled with the scenario's seed
    (``sweep.order: random``), or as the grid lists them."""
    assert scenario.sweep is not None
    if scenario.sweep.order == "grid":
        return list(range(n))
    return random.Random(f"{scenario.seed}-sweep-order").sample(range(n), n)


def _capacity(summary: RunSummary) -> str:
    cap = summary.capacity
    return f", capacity {cap.per_second} tasks/s" if cap else ""
