"""``lab report`` of a run: from the raw files of its folder to ``summary.json``, the
figures and the report files (``lab.report.folder`` describes the folder).

``lab run`` writes the raw files and then derives the rest *from the files*, exactly as
``lab report`` does later, so a report regenerated from a copied folder says the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.analysis.model import RunSummary
from lab.analysis.series import windows
from lab.analysis.summary import summarize
from lab.report import document, figures, run_report
from lab.report.folder import SUMMARY_FILE, Run, read_run, write_raw
from lab.report.resource_figures import draw_resources
from lab.run.runner import RawRun
from lab.scenario.model import Scenario


def write_results(scenario: Scenario, raw: RawRun, run_dir: Path) -> RunSummary:
    """The end of ``lab run``: the raw files, then everything derived from them."""
    write_raw(scenario, raw, run_dir)
    return derive(run_dir)


def derive(run_dir: Path) -> RunSummary:
    """summary.json, figures and report files from the raw files of ``run_dir``."""
    run = read_run(run_dir)
    summary = summarize(run)
    text = json.dumps(summary.model_dump(mode="json"), indent=2)
    (run_dir / SUMMARY_FILE).write_text(text + "\n")
    _report(run, summary)
    return summary


def _report(run: Run, summary: RunSummary) -> None:
    run_dir, events = run.path, run.events
    win = windows(run.tasks, run.scenario.report.window_seconds)
    report = run.scenario.report
    paths = figures.draw_all(
        run_dir / "figures",
        run.tasks,
        win,
        events,
        run.metrics,
        run.t0_s,
        report.metrics_interval_seconds,
        report.window_seconds,
    )
    if run.resources is not None and len(run.resources):
        paths.append(
            draw_resources(
                run_dir / "figures",
                run.resources,
                events,
                run.t0_s,
                report.metrics_interval_seconds,
            )
        )
    rel = [p.relative_to(run_dir) for p in paths]
    event_rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()}
        for row in events.round(3).astype(object).where(events.notna(), None).to_dict("records")
    ]
    blocks = run_report.blocks(run.scenario, summary, event_rows, rel, run.environment)
    (run_dir / "report.md").write_text(document.markdown(blocks))
    (run_dir / "report.html").write_text(document.html_page(blocks, run_dir, run.scenario.name))
