"""Running a max-sustainable-rate search (``rate_search:`` in a scenario): every probe is
an ordinary run, at a constant rate, in its own folder::

    results/<stamp>-<name>/            the search
        scenario.resolved.yaml         the scenario with its rate_search
        rate_search.json               every probe: rate, folder, status (saved after each)
        probes/<k>-rate=<r>/           one run folder per probe
        report.md report.html figures/rate_search.png   (derived: lab.report.rate_search)

The search itself (what holds, doubling and bisection) is ``lab.analysis.rate_search``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.analysis.model import RunSummary
from lab.analysis.rate_search import Probe, search
from lab.report.derive import write_results
from lab.report.folder import write_scenario
from lab.report.rate_search import RATE_SEARCH_FILE, derive_rate_search
from lab.run.environment import invocation
from lab.run.runner import execute
from lab.scenario.model import ConstantArrivals, Scenario


def probe_scenario(scenario: Scenario, rate: float) -> Scenario:
    load = scenario.load.model_copy(
        update={"arrivals": ConstantArrivals(kind="constant", rate_per_second=rate)}
    )
    return scenario.model_copy(update={"load": load, "rate_search": None})


def probe_of(summary: RunSummary, rate: float) -> Probe:
    load = summary.load
    late = 0.0 if load is None or not load.sent else load.late_submits / load.sent
    return Probe(
        rate,
        summary.throughput_per_second or 0.0,
        summary.latency_s.p99,
        late,
        summary.drain_seconds,
    )


def run_rate_search(
    scenario: Scenario,
    folder: Path,
    echo: Callable[[str], None],
    overrides: tuple[str, ...] = (),
) -> float | None:
    """Probe until the search is done; then derive the report. The rate found, or None."""
    assert scenario.rate_search is not None
    config = scenario.rate_search
    write_scenario(scenario, folder)
    plan: dict[str, Any] = {"search": folder.name, "probes": []}

    def measure(rate: float) -> Probe:
        k = len(plan["probes"]) + 1
        run_dir = folder / "probes" / f"{k}-rate={rate:g}"
        run_dir.mkdir(parents=True)
        cell = probe_scenario(scenario, rate)
        write_scenario(cell, run_dir)
        entry: dict[str, Any] = {"rate": rate, "folder": run_dir.name, "status": "failed"}
        plan["probes"].append(entry)
        echo(f"lab: probe {k} at {rate:g} tasks/s")
        try:
            raw = execute(cell, run_dir)
        except KeyboardInterrupt:
            entry["status"] = "interrupted"
            _save(plan, folder)
            raise
        except Exception as exc:  # a probe that could not run holds nothing
            entry["error"] = f"{type(exc).__name__}: {exc}"
            _save(plan, folder)
            return Probe(rate, 0.0, None, 1.0, None)
        raw.environment |= invocation(overrides) | {"probe_rate_per_second": rate}
        summary = write_results(cell, raw, run_dir)
        entry["status"] = "done"
        _save(plan, folder)
        probe = probe_of(summary, rate)
        echo(f"  throughput {probe.throughput:g} tasks/s, p99 {probe.latency_p99_s} s")
        return probe

    result = search(
        measure,
        config.start_rate_per_second,
        config.latency_p99_below_seconds,
        tolerance=config.tolerance,
        max_probes=config.max_probes,
    )
    _save(plan, folder)
    derive_rate_search(folder)
    return result.max_rate


def _save(plan: dict[str, Any], folder: Path) -> None:
    (folder / RATE_SEARCH_FILE).write_text(json.dumps(plan, indent=2) + "\n")
