"""The console in a real browser: what each page shows follows the queue, and what is
done on a page (pause, resume, requeue, cancel, submit) changes what the workers do."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest
import redis

from system.supervisor import TaskqProcess

from .conftest import KEY, finished, need_playwright, shot, submit

need_playwright()
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser
StartWorker = Callable[..., TaskqProcess]


def open_console(page: Page, url: str, route: str = "") -> None:
    page.goto(f"{url}/ui/#/{route}")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bok\b"))


def test_overview_follows_queues_workers_and_breakers(
    page: Page,
    console_url: str,
    http: httpx.Client,
    queue_name: str,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    open_console(page, console_url)
    queued = page.locator(f'tr[data-queue="{queue_name}"] [data-col="queued"]')
    for _ in range(3):
        submit(http, queue_name, "echo")
    expect(queued).to_have_text("3")
    for _ in range(2):
        submit(http, queue_name, "echo")
    expect(queued).to_have_text("5")
    # A guarded task type whose dependency is down; its breaker opens after 2 failures.
    redis_client.set(f"test:{queue_name}:down", 1)
    for i in range(3):
        submit(http, queue_name, "guarded_call", i, max_retries=0)
    worker = start_worker(
        "-Q", queue_name, "-c", "2", TASKQ_BREAKER__MIN_CALLS="2", TASKQ_BREAKER__OPEN_SECONDS="600"
    )
    expect(queued).to_have_text("0")
    expect(page.locator(f'tr[data-pid="{worker.pid}"]')).to_contain_text(f"pid {worker.pid}")
    breaker = page.locator(f'tr[data-breaker="{queue_name}/guarded_call"] [data-badge]')
    expect(breaker).to_have_text("open")
    shot(page, "overview")


def test_pause_and_resume_from_the_queue_page(
    page: Page, console_url: str, http: httpx.Client, queue_name: str, start_worker: StartWorker
) -> None:
    worker = start_worker("-Q", queue_name)
    assert finished(http, submit(http, queue_name, "echo"))["status"] == "succeeded"
    open_console(page, console_url, f"queues/{queue_name}")
    badge = page.locator("h1 [data-badge]")
    expect(badge).to_have_text("active")
    page.locator("button[data-action=pause]").click()
    expect(badge).to_have_text("paused")
    assert http.get(f"/queues/{queue_name}").json()["paused"] is True
    held = submit(http, queue_name, "echo")
    expect(page.locator('[data-stat="queued"] .value')).to_have_text("1")
    # What must not happen has no event to wait for: the worker polls every 0.2 s and the
    # submit woke it, so 2 s are ten chances to take the task.
    time.sleep(2)
    assert worker.alive()
    assert http.get(f"/tasks/{held}").json()["status"] == "queued"
    expect(page.locator(f'tr[data-task="{held}"]')).to_be_visible()
    shot(page, "queue-paused")
    page.locator("button[data-action=resume]").click()
    expect(badge).to_have_text("active")
    assert finished(http, held)["status"] == "succeeded"
    expect(page.locator('[data-stat="queued"] .value')).to_have_text("0")
    expect(page.locator('[data-counter="succeeded"]')).to_have_text("2")


def test_dead_lettered_tasks_requeued_from_the_page_succeed(
    page: Page,
    console_url: str,
    http: httpx.Client,
    queue_name: str,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    down = f"test:{queue_name}:down"  # guarded_call fails while this key exists
    redis_client.set(down, 1)
    ids = [submit(http, queue_name, "guarded_call", i, max_retries=0) for i in range(3)]
    start_worker("-Q", queue_name)
    assert [finished(http, i)["status"] for i in ids] == ["failed"] * 3
    open_console(page, console_url, f"queues/{queue_name}/failed")
    rows = page.locator("tr[data-task]")
    expect(rows).to_have_count(3)
    first = page.locator(f'tr[data-task="{ids[0]}"]')
    expect(first.locator("td.error")).to_contain_text("ConnectionError: dependency unavailable")
    traceback = page.locator(f'tr[data-traceback-of="{ids[0]}"]')
    expect(traceback).to_be_hidden()
    first.locator("button[data-traceback]").click()
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    shot(page, "queue-dead-letters")

    redis_client.delete(down)  # the dependency is back
    first.locator("button[data-requeue]").click()
    expect(page.locator("p.notice")).to_contain_text(f"Requeued 1 task: {ids[0]}")
    assert finished(http, ids[0])["status"] == "succeeded"
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Requeue all dead-lettered").click()
    expect(page.locator("p.notice")).to_contain_text("Requeued 2 tasks")
    assert [finished(http, i)["status"] for i in ids[1:]] == ["succeeded"] * 2
    expect(page.locator('[data-tab="failed"]')).to_have_text("Dead-lettered (0)")

    open_console(page, console_url, f"tasks/{ids[0]}")
    expect(page.locator('[data-field="status"]')).to_have_text("succeeded")
    expect(page.locator('[data-field="attempts"]')).to_contain_text("1 of 1")


def test_cancel_from_the_task_page(
    page: Page, console_url: str, http: httpx.Client, queue_name: str, start_worker: StartWorker
) -> None:
    status = page.locator('[data-field="status"]')
    cancel = page.locator("button[data-action=cancel]")
    waiting = submit(http, queue_name, "echo", delay_seconds=3600)
    open_console(page, console_url, f"tasks/{waiting}")
    expect(status).to_have_text("scheduled")
    cancel.click()
    expect(status).to_have_text("cancelled")
    expect(cancel).to_have_count(0)  # nothing left to cancel
    assert http.get(f"/tasks/{waiting}").json()["status"] == "cancelled"

    start_worker("-Q", queue_name)
    running = submit(http, queue_name, "blocking_sleep", {"seconds": 60})
    open_console(page, console_url, f"tasks/{running}")
    expect(status).to_have_text("running")
    expect(page.locator('[data-field="worker"]')).to_contain_text("-")  # host-pid-...
    shot(page, "task-running")
    cancel.click()  # cooperative: the handler sees the request and stops
    expect(status).to_have_text("cancelled")
    assert finished(http, running)["status"] == "cancelled"
    shot(page, "task-cancelled")


def test_submit_form_shows_the_field_the_api_refused(
    page: Page, console_url: str, http: httpx.Client, queue_name: str, start_worker: StartWorker
) -> None:
    open_console(page, console_url, f"submit?queue={queue_name}")
    page.locator("select[name=task_type]").select_option("matrix_multiply")
    size = page.locator('[data-field="payload.size"]')
    size.locator("input").fill("5000")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(size.locator(".field-error")).to_contain_text("payload.size")
    expect(size.locator(".field-error")).to_contain_text("less than or equal to 2000")
    expect(page.locator("div.problem")).to_contain_text("422 Invalid payload")
    shot(page, "submit-refused")
    assert http.get(f"/queues/{queue_name}").status_code == 404  # nothing written

    size.locator("input").fill("3")
    page.locator('[data-field="priority"] input').fill("7")
    page.get_by_role("button", name="Submit", exact=True).click()
    accepted = page.locator("a[data-accepted]")
    expect(accepted).to_be_visible()
    expect(size.locator(".field-error")).to_have_text("")
    task_id = accepted.get_attribute("data-accepted")
    record = http.get(f"/tasks/{task_id}").json()
    assert (record["payload"], record["priority"], record["queue"]) == ({"size": 3}, 7, queue_name)
    start_worker("-Q", queue_name)
    accepted.click()
    expect(page.locator('[data-field="status"]')).to_have_text("succeeded")
    expect(page.locator(".timeline li")).to_have_count(3)
    expect(page.locator(".card", has_text="Outcome")).to_contain_text('"size": 3')
    shot(page, "task-succeeded")


def test_with_api_keys_no_data_shows_until_a_good_key_is_given(
    page: Page, keyed_url: str, queue_name: str
) -> None:
    with httpx.Client(base_url=keyed_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        submit(http, queue_name, "echo")
    answers: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda r: answers.append((r.url, r.status, r.request.header_value("authorization"))),
    )
    page.goto(f"{keyed_url}/ui/")
    key_input = page.locator("input[name=key]")
    expect(key_input).to_be_visible()
    expect(page.locator("table")).to_have_count(0)  # no data before a key
    # The files loaded without a key; every data call was refused.
    assert all(s == 200 for u, s, _ in answers if "/ui/" in u), answers
    assert {s for u, s, _ in answers if "/ui/" not in u} == {401}, answers
    shot(page, "key-required")

    key_input.fill("wrong-key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("alert")).to_have_text("The API refused this key.")
    expect(page.locator("table")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('taskq.apiKey')") is None
    shot(page, "key-refused")

    key_input.fill(KEY)
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator(f'tr[data-queue="{queue_name}"] [data-col="queued"]')).to_have_text("1")
    expect(page.locator("#keybox")).to_contain_text("API key in use")
    data = [(s, a) for u, s, a in answers if "/ui/" not in u and s == 200]
    assert data and all(a == f"Bearer {KEY}" for _, a in data), data
    assert page.evaluate("sessionStorage.getItem('taskq.apiKey')") == KEY

    page.get_by_role("button", name="forget key").click()
    expect(key_input).to_be_visible()
    expect(page.locator("table")).to_have_count(0)
