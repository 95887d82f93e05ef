"""The ``lab`` command line: ``lab run FILE``, ``lab validate FILE``, ``lab list [DIR]``,
``lab schema``, ``lab report RUN_OR_SWEEP``, ``lab compare RUN...``, ``lab serve [RESULTS]``,
``lab images build|list``, ``lab clean``.

Exit codes: 0 every check passed; 1 a check failed; 2 the scenario is invalid (one line
per error, naming the field and the YAML line; no traceback); 3 the run itself failed;
130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml

from lab.backends.docker.cli import clean, images
from lab.scenario.loader import ScenarioError, load_scenario
from lab.scenario.model import Scenario

if TYPE_CHECKING:
    from lab.web.feed import RunFeed

INVALID, RUN_FAILED, INTERRUPTED = 2, 3, 130


def _load(file: Path, overrides: tuple[str, ...]) -> Scenario:
    try:
        scenario = load_scenario(file, overrides)
        if scenario.sweep is not None:  # every cell must be valid before anything runs
            from lab.scenario.sweep import expand

            expand(scenario)
        return scenario
    except ScenarioError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        sys.exit(INVALID)


@click.group()
def main() -> None:
    """The taskq lab: run YAML scenarios against a real deployment and report."""


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a field (dotted path, YAML value), e.g. load.duration_seconds=5.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="Where the run folder is created.",
)
@click.option(
    "--live/--no-live",
    default=True,
    show_default=True,
    help="Serve a live page of the run on a free loopback port (its URL is printed).",
)
def run(file: Path, overrides: tuple[str, ...], out: Path, live: bool) -> None:
    """Run a scenario and write its results folder."""
    from lab.report.folder import write_scenario
    from lab.run.runner import run_dir_for
    from lab.web.live import live_page

    scenario = _load(file, overrides)
    run_dir = run_dir_for(scenario, out)
    if scenario.sweep is not None:
        _sweep(scenario, run_dir, overrides)
    if scenario.rate_search is not None:
        _rate_search(scenario, run_dir, overrides)
    write_scenario(scenario, run_dir)
    with live_page(scenario, run_dir, live) as feed:
        if feed:
            click.echo(f"lab: live page at {feed.url}")
        _run_one(scenario, run_dir, feed, overrides)


def _run_one(
    scenario: Scenario, run_dir: Path, feed: RunFeed | None, overrides: tuple[str, ...]
) -> None:
    from lab.report.derive import write_results
    from lab.run.environment import invocation
    from lab.run.runner import execute

    click.echo(f"lab: running {scenario.name} -> {run_dir}")
    try:
        raw = execute(scenario, run_dir, feed)
    except KeyboardInterrupt:
        if feed:
            feed.interrupted()
        click.echo("lab: interrupted; every process was stopped", err=True)
        sys.exit(INTERRUPTED)
    except Exception as exc:
        if feed:
            feed.failed(f"{type(exc).__name__}: {exc}")
        click.echo(
            f"lab: the run failed: {type(exc).__name__}: {exc} (logs: {run_dir / 'logs'})", err=True
        )
        sys.exit(RUN_FAILED)
    raw.environment |= invocation(overrides)
    if feed:
        feed.reporting()
    summary = write_results(scenario, raw, run_dir)
    if feed:
        feed.finish(summary)
    lat = summary.latency_s
    click.echo(
        f"accepted {summary.accepted}, succeeded {summary.succeeded}, lost "
        f"{summary.lost}, duplicates {summary.duplicates}; throughput "
        f"{summary.throughput_per_second} tasks/s; latency p50 {lat.p50} s, "
        f"p99 {lat.p99} s"
    )
    for c in summary.checks:
        click.echo(f"  [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    if summary.verdict is not None:
        click.echo(f"verdict: {summary.verdict.line}")
    click.echo(f"report: {run_dir / 'report.html'} (and report.md)")
    sys.exit(0 if summary.passed else 1)


@main.command("report")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
def report_(folder: Path) -> None:
    """Regenerate summary, figures and report files of a run or sweep folder from its
    stored raw data (no service needed)."""
    from lab.report.derive import derive
    from lab.report.folder import NotAResultsFolder, Sweep, load
    from lab.report.rate_search import derive_rate_search, is_rate_search

    if is_rate_search(folder):
        derive_rate_search(folder)
        click.echo(f"report: {folder / 'report.html'} (and report.md)")
        return
    try:
        stored = load(folder)
    except NotAResultsFolder as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(INVALID)
    if isinstance(stored, Sweep):
        from lab.report.sweep import derive_sweep

        derive_sweep(folder)
    else:
        derive(folder)
    click.echo(f"report: {folder / 'report.html'} (and report.md)")


def _sweep(scenario: Scenario, sweep_dir: Path, overrides: tuple[str, ...]) -> None:
    """Exit 0 when every run was done, RUN_FAILED when some failed."""
    from lab.run.sweep import run_sweep

    click.echo(f"lab: sweep {scenario.name} -> {sweep_dir}")
    try:
        failed = run_sweep(scenario, sweep_dir, click.echo, overrides)
    except KeyboardInterrupt:
        click.echo("lab: interrupted; every process was stopped", err=True)
        sys.exit(INTERRUPTED)
    click.echo(f"report: {sweep_dir / 'report.html'} (and report.md, aggregate.csv)")
    sys.exit(RUN_FAILED if failed else 0)


def _rate_search(scenario: Scenario, folder: Path, overrides: tuple[str, ...]) -> None:
    """Exit 0 when a rate held, 1 when none did."""
    from lab.run.rate_search import run_rate_search

    click.echo(f"lab: rate search {scenario.name} -> {folder}")
    try:
        best = run_rate_search(scenario, folder, click.echo, overrides)
    except KeyboardInterrupt:
        click.echo("lab: interrupted; every process was stopped", err=True)
        sys.exit(INTERRUPTED)
    click.echo(f"max sustainable rate: {'none held' if best is None else f'{best:g} tasks/s'}")
    click.echo(f"report: {folder / 'report.html'} (and report.md)")
    sys.exit(0 if best is not None else 1)


@main.command("compare")
@click.argument(
    "folders",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write the comparison [default: results/compare-<timestamp>].",
)
def compare_(folders: tuple[Path, ...], out: Path | None) -> None:
    """Runs and sweeps side by side: one table and overlaid figures."""
    from datetime import datetime

    from lab.report.compare import compare
    from lab.report.folder import NotAResultsFolder

    out = out or Path("results") / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        table = compare(list(folders), out)
    except NotAResultsFolder as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(INVALID)
    click.echo(table.to_string(index=False, max_colwidth=40))
    click.echo(f"report: {out / 'report.html'} (and report.md, compare.csv)")


@main.command()
@click.argument(
    "results",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("results"),
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The loopback port (0: a free one).",
)
def serve(results: Path, port: int) -> None:
    """Browse the runs and sweeps under RESULTS in a browser: each one's report, and
    comparisons (as lab compare makes them). Loopback only; Ctrl-C stops it."""
    import tempfile

    from lab.web.serve import make_app
    from lab.web.server import serve_forever

    with tempfile.TemporaryDirectory(prefix="lab-serve-") as cache:
        app = make_app(results, Path(cache))
        serve_forever(app, port, lambda url: click.echo(f"lab: serving {results} at {url}/"))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def validate(file: Path, overrides: tuple[str, ...]) -> None:
    """Check a scenario file; print its errors with field and line."""
    scenario = _load(file, overrides)
    runs = ""
    if scenario.sweep is not None:
        from lab.scenario.sweep import expand

        runs = f", a sweep of {len(expand(scenario))} runs"
    click.echo(f"{file}: ok ({scenario.name}, {len(scenario.events)} events{runs})")


@main.command("list")
@click.argument(
    "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("scenarios")
)
def list_(directory: Path) -> None:
    """The scenarios in DIR with their descriptions."""
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        click.echo(f"no scenarios in {directory}", err=True)
        sys.exit(1)
    width = max(len(f.name) for f in files)
    for f in files:
        try:
            description = load_scenario(f).description.strip().splitlines()[0]
        except ScenarioError as exc:
            description = f"(invalid: {exc.errors[0]})"
        except IndexError:
            description = ""
        if len(description) > 100:
            description = description[:97] + "..."
        click.echo(f"{f.name:{width}}  {description}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default="json")
def schema(fmt: str) -> None:
    """The scenario's JSON schema."""
    doc = Scenario.model_json_schema()
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else yaml.safe_dump(doc))


main.add_command(images)
main.add_command(clean)
