"""API keys with scopes and queues (issue 18, section 6); refusals counted in the metrics;
an address that keeps failing is slowed down; short keys refused at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem

FULL = "full-power-0123456789"  # the old form: a plain key
READER = "reader-0123456789ab"
SUBMITTER = "submitter-0123456789"
OPERATOR = "operator-0123456789a"
KEYS = f"{FULL}, {READER}:read, {SUBMITTER}:submit:emails, {OPERATOR}:read+operate:emails"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"TASKQ_API_KEYS": KEYS, "TASKQ_API__MAX_BODY_BYTES": "5000"}
    log = tmp_path_factory.mktemp("scopes") / "api.log"
    with RedisServer() as server, running_api(server.url, log, env) as url:
        yield url


def _as(api: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_each_key_does_what_its_scopes_and_queues_allow(api: str) -> None:
    with (
        _as(api, FULL) as full,
        _as(api, READER) as reader,
        _as(api, SUBMITTER) as submitter,
        _as(api, OPERATOR) as operator,
    ):
        emails = submitter.post("/tasks/", json={"task_type": "echo", "queue": "emails"})
        assert emails.status_code == 202, emails.text
        other = {"task_type": "echo", "queue": "reports"}
        assert_problem(submitter.post("/tasks/", json=other), 403, "'reports'", "emails")
        batch = {"tasks": [{"task_type": "echo", "queue": "emails"}, other]}
        assert_problem(submitter.post("/tasks/batch", json=batch), 403, "'reports'")
        assert_problem(submitter.get("/queues"), 403, "'read' scope")
        assert_problem(submitter.post("/queues/emails/pause"), 403, "'operate' scope")
        reports = full.post("/tasks/", json=other).json()["id"]

        assert {q["name"] for q in reader.get("/queues").json()} == {"emails", "reports"}
        assert reader.get(f"/tasks/{reports}").status_code == 200
        assert_problem(reader.post("/tasks/", json=other), 403, "'submit' scope")
        assert_problem(reader.post("/queues/reports/pause"), 403, "'operate' scope")
        assert_problem(reader.post(f"/tasks/{reports}/cancel"), 403, "'operate' scope")

        assert [q["name"] for q in operator.get("/queues").json()] == ["emails"]
        assert_problem(operator.get(f"/tasks/{reports}"), 403, "'reports'")
        assert_problem(operator.get("/queues/reports"), 403, "'reports'")
        assert_problem(operator.post("/queues/reports/pause"), 403, "'reports'")
        assert operator.post("/queues/emails/pause").json()["paused"] is True
        assert operator.post("/queues/emails/resume").json()["paused"] is False
        cancelled = operator.post(f"/tasks/{emails.json()['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        assert_problem(operator.post("/tasks/", json={"task_type": "echo", "queue": "emails"}), 403)

        assert full.post("/queues/reports/pause").json()["paused"] is True


def test_refusals_are_counted(api: str) -> None:
    httpx.get(f"{api}/queues")  # 401
    with _as(api, READER) as reader:
        reader.post("/queues/emails/pause")  # 403 (or 404 before it exists: scopes first)
        big = {"task_type": "echo", "payload": "x" * 6000}
        assert reader.post("/tasks/", json=big).status_code == 413
    text = httpx.get(f"{api}/metrics").text
    for status in ("401", "403", "413"):
        assert f'status="{status}"' in text, status


def test_repeated_failures_from_one_address_are_slowed_down(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"TASKQ_API_KEYS": FULL}
    with running_api(redis_server.url, tmp_path / "api.log", env) as url:
        for _ in range(12):  # no key at all is not a guess: not counted
            assert httpx.get(f"{url}/queues").status_code == 401
        wrong = {"Authorization": "Bearer wrong-key-0123456789"}
        codes = [httpx.get(f"{url}/queues", headers=wrong).status_code for _ in range(10)]
        assert codes == [401] * 10
        r = httpx.get(f"{url}/queues", headers={"Authorization": f"Bearer {FULL}"})
        assert_problem(r, 429, "10 requests with a wrong API key")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert httpx.get(f"{url}/healthz").status_code == 200  # open paths stay open


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("short-key", "at least 16"),
        (f"{FULL}:admin", "scopes admin"),
        (f"{FULL}:read:bad.queue", "not queue names"),
    ],
)
def test_bad_keys_stop_the_api_at_start_up(
    redis_server: RedisServer, keys: str, message: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "system", "api", "--redis-url", redis_server.url],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "TASKQ_API_KEYS": keys},
    )
    assert out.returncode != 0 and message in out.stderr, out.stderr[-2000:]
    assert keys.split(":")[0] not in out.stderr  # the key itself is never printed
