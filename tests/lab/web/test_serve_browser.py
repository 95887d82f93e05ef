"""``lab serve`` in Chromium, on the committed examples (results/examples): the list, the
example run's report with its figures, and a comparison picked from the list."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import REPO, lab_command
from tests.lab.web.conftest import need_playwright, shot

need_playwright()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SERVING = re.compile(r"lab: serving .* at (http://127\.0\.0\.1:\d+/)")
# Deriving a report that was never derived draws its figures: seconds on a loaded machine.
REPORT_MS = 120_000


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    proc = subprocess.Popen(
        lab_command("serve", "results/examples"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = SERVING.search(line)
        assert match, line
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(30)
        assert proc.stdout is not None
        proc.stdout.close()


def figures_loaded(page: Any) -> int:
    """How many of the report's images have decoded (a broken one has no width)."""
    count: int = page.evaluate(
        "[...document.querySelectorAll('.report img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length"
    )
    return count


def wait_for_figures(page: Any, n: int) -> None:
    """Until n figures have decoded. Polled from here: the page's CSP forbids the eval
    that page.wait_for_function would use."""
    deadline = time.monotonic() + 30
    while figures_loaded(page) < n:
        assert time.monotonic() < deadline, f"{figures_loaded(page)} of {n} figures decoded"
        time.sleep(0.1)


def test_the_example_run_shows_its_report_with_figures(serve_url: str, page: Any) -> None:
    page.goto(serve_url)
    row = page.locator("tr[data-key=fault_run]")
    expect(row).to_be_visible()
    expect(row).to_contain_text("worker_kill")
    expect(row).to_contain_text("pass")
    expect(page.locator("tr[data-key='tiny_sweep']")).to_contain_text("6 of 6 runs")
    shot(page, "serve-index")
    row.get_by_role("link", name="fault_run").click()
    report = page.locator("[data-report=fault_run]")
    expect(report.get_by_role("heading", name="Run of scenario `worker_kill`: PASS")).to_be_visible(
        timeout=REPORT_MS
    )
    expect(report.locator("img")).to_have_count(5)
    wait_for_figures(page, 5)
    expect(report.locator("table").first).to_contain_text("no_task_lost")
    shot(page, "serve-run")


def test_a_sweep_and_a_comparison_from_the_list(serve_url: str, page: Any) -> None:
    page.goto(f"{serve_url}#/result/tiny_sweep")
    expect(page.get_by_role("heading", name="Sweep of scenario `scaling_sweep`")).to_be_visible(
        timeout=REPORT_MS
    )
    expect(page.locator("tr[data-key^='tiny_sweep/cells/']")).to_have_count(6)
    shot(page, "serve-sweep")
    page.goto(serve_url)
    page.get_by_label("compare fault_run").check()
    compare = page.get_by_role("button", name=re.compile("Compare selected"))
    expect(compare).to_be_disabled()  # one is not a comparison
    page.get_by_label("compare tiny_sweep/cells/workers=4_r1").check()
    compare.click()
    report = page.locator(".report")
    expect(report.get_by_role("heading", name="Comparison of 2 result folder(s)")).to_be_visible(
        timeout=REPORT_MS
    )
    expect(report.locator("table").first).to_contain_text("fault_run")
    expect(report.locator("table").first).to_contain_text("workers=4_r1")
    expect(report.locator("img")).to_have_count(2)  # throughput and CDFs, overlaid
    wait_for_figures(page, 2)
    shot(page, "serve-compare")
    page.goto(f"{serve_url}#/result/..%2F..%2Fetc")
    expect(page.get_by_role("alert")).to_contain_text("no run or sweep named '../../etc'")
