"""The live page of ``lab run`` in Chromium: a short run with a worker killed under load;
the page shows the kill on its timeline while the run is still going, then the verdict."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import REPO, lab_command
from tests.lab.web.conftest import need_playwright, shot

need_playwright()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

# Long enough that the kill at 2 s is seen well before the load ends at 12 s, even when
# the page and the run start slowly on a loaded machine.
LIVE: dict[str, Any] = {
    "name": "live_kill",
    "description": "a worker SIGKILLed under load, watched live",
    "seed": 5,
    "system": {"workers": 2, "concurrency": 8, "lease_seconds": 1},
    "load": {
        "duration_seconds": 12,
        "arrivals": {"kind": "constant", "rate_per_second": 30},
        "mix": [{"task_type": "io", "payload": {"ms": 100}}],
    },
    "events": [
        {"at_seconds": 2, "action": "kill_worker", "signal": "SIGKILL", "which": "oldest"},
        {"at_seconds": 3, "action": "scale_workers", "workers": 2},
    ],
    "checks": {"no_task_lost": True, "max_duplicates": "in_flight_at_kills"},
    "report": {"metrics_interval_seconds": 0.5},
}
URL_LINE = re.compile(r"lab: live page at (http://127\.0\.0\.1:\d+/)")


class LabRun:
    """``lab run`` as a child process; its output is read in a thread and kept."""

    def __init__(self, scenario: Path, out: Path) -> None:
        self.proc = subprocess.Popen(
            [*lab_command("run", str(scenario), "--out", str(out))],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self.url_seen = threading.Event()
        self.url = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the lab stops every process it started on SIGTERM
        self.proc.wait(60)
        self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if (m := URL_LINE.search(line)) and not self.url:
                self.url = m.group(1)
                self.url_seen.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def lab_run(scenario_file: Callable[..., Path], tmp_path: Path) -> Iterator[LabRun]:
    run = LabRun(scenario_file(LIVE), tmp_path / "results")
    try:
        yield run
    finally:
        run.close()


def test_live_page_shows_the_kill_while_the_run_goes(lab_run: LabRun, page: Any) -> None:
    assert lab_run.url_seen.wait(60), lab_run.output
    page.goto(lab_run.url)
    kill = page.locator("tr.event-row[data-event=kill_worker]")
    expect(kill).to_be_visible(timeout=90_000)
    # Seen while the run still goes: the load (or its drain) is on, no verdict yet.
    phase = page.locator("main").get_attribute("data-phase")
    assert phase in ("load", "draining"), phase
    assert lab_run.proc.poll() is None
    # Its window is shaded on every chart, and the charts have lines.
    expect(page.locator("g.window.effect")).to_have_count(4 * 2, timeout=30_000)
    expect(page.locator("figure.plot").first.locator("polyline").first).to_be_attached()
    shot(page, "live-during-run")
    # Then the verdict, from the report the run wrote.
    expect(page.locator("[data-result]")).to_be_visible(timeout=120_000)
    assert page.locator("[data-result]").get_attribute("data-result") == "pass", lab_run.output
    expect(kill.locator("td").nth(5)).not_to_have_text("pending")
    for chart in ("Throughput", "Latency", "Queue depth", "Workers"):
        drawn = page.locator(f"figure.plot[data-chart^='{chart}'] polyline")
        assert drawn.count() >= 1, f"{chart}: no line drawn"
    shot(page, "live-finished")
    assert lab_run.proc.wait(60) == 0, lab_run.output
    assert f"live page: {lab_run.url}" in lab_run.output  # next to the progress line
