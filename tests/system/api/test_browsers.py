"""Other sites' pages cannot act through a browser (issue 18, section 5): with no keys on
loopback, a cross-site form post or a DNS-rebinding page used to pause queues."""

from __future__ import annotations

import httpx

from .test_tasks import assert_problem


def _existing_queue(http: httpx.Client, queue_name: str) -> str:
    assert http.post("/tasks/", json={"task_type": "echo", "queue": queue_name}).is_success
    return queue_name


def test_a_foreign_host_is_refused(http: httpx.Client, queue_name: str) -> None:
    q = _existing_queue(http, queue_name)
    rebound = {"Host": "evil.example"}
    assert_problem(http.post(f"/queues/{q}/pause", headers=rebound), 421, "evil.example")
    assert_problem(http.get("/queues", headers=rebound), 421, "TASKQ_API__ALLOWED_HOSTS")
    assert_problem(http.get("/queues", headers={"Host": "evil.example:8000"}), 421)
    assert http.get(f"/queues/{q}").json()["paused"] is False
    for host in ("localhost:1234", "127.0.0.1", "[::1]:80", "10.1.2.3"):
        assert http.get(f"/queues/{q}", headers={"Host": host}).status_code == 200, host


def test_a_cross_site_post_is_refused(http: httpx.Client, queue_name: str) -> None:
    q = _existing_queue(http, queue_name)
    url = f"/queues/{q}/pause"
    evil = {"Origin": "http://evil.example"}
    assert_problem(http.post(url, headers=evil), 403, "evil.example")
    assert_problem(http.post(url, headers={"Origin": "null"}), 403)
    assert_problem(http.post(url, headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    # what an HTML form sends
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = http.post(f"/queues/{q}/dead-letter/requeue", content=b"limit=5", headers=form)
    assert_problem(r, 415, "JSON")
    assert_problem(http.post(url, content=b"", headers={"Content-Type": "text/plain"}), 415)
    assert http.get(f"/queues/{q}").json()["paused"] is False
    # the API's own pages (same origin), and clients that are not browsers
    own = {"Origin": str(http.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    assert http.post(url, headers=own).json()["paused"] is True
    assert http.post(f"/queues/{q}/resume").json()["paused"] is False
    charset = {"Content-Type": "application/json; charset=utf-8"}
    task = b'{"task_type": "echo", "queue": "' + q.encode() + b'"}'
    assert http.post("/tasks/", content=task, headers=charset).status_code == 202
    assert http.get("/queues", headers=evil).status_code == 200  # reads: the Host decides
