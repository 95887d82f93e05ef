"""A console left open does not grow: polling fast (50 ms instead of 1 s) and moving
between its pages many times leaves the DOM node count, the event listeners, the JS heap
and the request rate where they were, and chart history is bounded."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from .conftest import need_playwright, submit

need_playwright()
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser
POLL_MS = 50


def test_a_page_left_open_stays_bounded(
    page: Page, console_url: str, http: httpx.Client, queue_name: str
) -> None:
    # A backlog nobody works on: its oldest task's age changes between any two polls, so
    # each poll brings a new document (no 304) and the tables are drawn again.
    ids = [submit(http, queue_name, "echo", i) for i in range(30)]
    routes = [
        ("", "overview"),
        (f"queues/{queue_name}", "queue"),
        (f"queues/{queue_name}/scheduled", "queue"),
        (f"tasks/{ids[0]}", "task"),
        ("submit", "submit"),
        ("", "overview"),
    ]
    answers: list[str] = []
    page.on("response", lambda r: answers.append(r.url) if "/ui/" not in r.url else None)

    def wait_for_answers(n: int) -> None:
        target = len(answers) + n
        deadline = time.monotonic() + 60
        while len(answers) < target:
            assert time.monotonic() < deadline, f"{len(answers)} of {target} answers"
            page.wait_for_timeout(20)

    def tour() -> None:
        for route, name in routes:
            page.evaluate("route => { location.hash = '#/' + route; }", route)
            expect(page.locator("#main")).to_have_attribute("data-page", name)
            if name == "submit":  # it reads the task types once, and does not poll
                expect(page.locator("select[name=task_type]")).to_be_visible()
            else:
                wait_for_answers(6)  # a few polls of the page

    def measure() -> dict[str, float]:
        """The least of three readings after a garbage collection, a few polls apart: a
        reading can still count nodes of a table just replaced (swept later), never less
        than what is kept."""
        readings = []
        for _ in range(3):
            wait_for_answers(9)
            cdp.send("HeapProfiler.collectGarbage")
            got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            readings.append(got)
        return {
            k: min(r[k] for r in readings) for k in ("JSHeapUsedSize", "Nodes", "JSEventListeners")
        }

    def answers_per_second() -> float:
        before, start = len(answers), time.monotonic()
        page.wait_for_timeout(2000)  # a rate needs a stretch of time
        return (len(answers) - before) / (time.monotonic() - start)

    page.goto(f"{console_url}/ui/?poll_ms={POLL_MS}#/")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#live")).to_contain_text(f"every {POLL_MS} ms")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    tour()  # every page once, so that every module is loaded and every cache warm
    wait_for_answers(60)
    first, first_rate = measure(), answers_per_second()
    for _ in range(5):
        tour()
    wait_for_answers(450)  # ~150 more polls of the overview
    second, second_rate = measure(), answers_per_second()
    print(f"before: {first}, {first_rate:.0f} answers/s; after: {second}, {second_rate:.0f}/s")

    assert second["Nodes"] <= first["Nodes"] * 1.1 + 100, (first, second)
    assert second["JSEventListeners"] <= first["JSEventListeners"] + 10, (first, second)
    assert second["JSHeapUsedSize"] <= first["JSHeapUsedSize"] + 2_000_000, (first, second)
    # A timer left behind by a page would poll on: after five tours of five polling pages
    # even one leak per tour would poll six times over. The bound leaves room for the
    # first rate having been measured while the machine was busier (20/s then 41/s seen).
    assert second_rate <= first_rate * 3 + 5, (first_rate, second_rate)

    # A chart's history keeps five minutes and 600 samples at most, whatever the interval.
    kept = page.evaluate(
        """async () => {
            const { Series } = await import("./js/chart.js");
            const series = new Series();
            for (let i = 0; i < 10000; i += 1) series.push(i * 10, i);        // 100 s, 10 ms apart
            const dense = series.t.length;
            for (let i = 0; i < 100; i += 1) series.push(200000 + i * 60000, i); // 100 min
            return [dense, series.t.length, series.t[series.t.length - 1] - series.t[0]];
        }"""
    )
    assert kept[0] == 600 and kept[1] <= 6 and kept[2] <= 5 * 60_000, kept
