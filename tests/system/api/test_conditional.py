"""Conditional GETs over real HTTP: every successful GET carries an ETag, and
If-None-Match with it answers 304 without a body until the document changes."""

from __future__ import annotations

import re

import httpx

from .test_tasks import assert_problem


def test_conditional_get(http: httpx.Client, queue_name: str) -> None:
    path = f"/queues/{queue_name}"
    # An empty queue (a queued task's age would change the document at every read).
    task = http.post("/tasks/", json={"task_type": "echo", "queue": queue_name}).json()
    http.post(f"/tasks/{task['id']}/cancel")
    first = http.get(path)
    etag = first.headers["etag"]
    assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{32}"', etag)
    same = http.get(path, headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    listed = http.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304  # weak comparison, any tag of a list
    assert http.get(path, headers={"If-None-Match": "*"}).status_code == 304
    assert http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    http.post("/tasks/", json={"task_type": "echo", "queue": queue_name})
    changed = http.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["depth"]["queued"] == 1
    # Only successful GETs: a POST answers in full, a problem carries no validator.
    paused = http.post(f"{path}/pause", headers={"If-None-Match": "*"})
    assert paused.status_code == 200 and "etag" not in paused.headers
    missing = http.get(f"/tasks/{queue_name}.0", headers={"If-None-Match": "*"})
    assert_problem(missing, 404)
    assert "etag" not in missing.headers
