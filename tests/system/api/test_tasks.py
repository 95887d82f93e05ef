"""The tasks and health endpoints over real HTTP, against a real Redis and real workers."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable

import httpx
import jsonschema
import pytest

from system.supervisor import TaskqProcess

PROBLEM = "application/problem+json"
ORIGINAL = {
    "task_type": "matrix_multiply",
    "payload": {"size": 10},
    "priority": 1,
    "max_retries": 3,
}


def test_original_request_is_accepted_and_runs(
    http: httpx.Client, start_worker: Callable[..., TaskqProcess]
) -> None:
    r = http.post("/tasks/", json=ORIGINAL)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and r.headers["location"] == f"/tasks/{body['id']}"
    start_worker("-Q", "default")
    done = http.get(f"/tasks/{body['id']}/result", params={"wait": 20}).json()
    assert done["status"] == "succeeded", done
    assert done["result"]["size"] == 10 and len(done["result"]["product"]) == 10
    view = http.get(f"/tasks/{body['id']}").json()
    assert view["task_type"] == "matrix_multiply" and view["priority"] == 1
    assert view["max_retries"] == 3 and view["attempts"] == 1 and view["worker"]
    assert view["created_at"] <= view["started_at"] <= view["finished_at"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_original_readme_curl_command_verbatim(
    api_url: str, http: httpx.Client, start_worker: Callable[..., TaskqProcess]
) -> None:
    """The original project's README example, as written (only the host and port differ)."""
    data = (
        '{"task_type": "matrix_multiply", "payload": {"size": 10}, "priority": 1, "max_retries": 3}'
    )
    cmd = f"""curl -X POST "{api_url}/tasks/" -H "Content-Type: application/json" -d '{data}'"""
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    task_id = httpx.Response(200, content=out.stdout).json()["id"]
    start_worker("-Q", "default")
    assert http.get(f"/tasks/{task_id}/result", params={"wait": 20}).json()["status"] == "succeeded"


def test_post_without_trailing_slash_and_options(http: httpx.Client, queue_name: str) -> None:
    r = http.post(
        "/tasks",
        json={
            "task_type": "echo",
            "payload": [1],
            "queue": queue_name,
            "delay_seconds": 60,
            "timeout_seconds": 5,
        },
    )
    assert r.status_code == 202 and r.json()["status"] == "scheduled"


def test_idempotency_key_header_and_body(http: httpx.Client, queue_name: str) -> None:
    req = {"task_type": "echo", "payload": 1, "queue": queue_name}
    first = http.post("/tasks/", json=req, headers={"Idempotency-Key": "abc"})
    again = http.post("/tasks/", json=req, headers={"Idempotency-Key": "abc"})
    body_key = http.post("/tasks/", json={**req, "idempotency_key": "abc"})
    assert (first.status_code, again.status_code, body_key.status_code) == (202, 200, 200)
    assert first.json()["id"] == again.json()["id"] == body_key.json()["id"]
    assert again.json()["created"] is False


def test_cancel_queued_task(http: httpx.Client, queue_name: str) -> None:
    task_id = http.post("/tasks/", json={"task_type": "echo", "queue": queue_name}).json()["id"]
    r = http.post(f"/tasks/{task_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert http.get(f"/tasks/{task_id}").json()["status"] == "cancelled"
    again = http.post(f"/tasks/{task_id}/cancel").json()
    assert again["detail"].startswith("already finished")


def test_result_long_poll_times_out_with_current_state(http: httpx.Client, queue_name: str) -> None:
    task_id = http.post("/tasks/", json={"task_type": "echo", "queue": queue_name}).json()["id"]
    t0 = time.monotonic()
    r = http.get(f"/tasks/{task_id}/result", params={"wait": 0.3})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert 0.25 <= time.monotonic() - t0 < 5


def assert_problem(r: httpx.Response, status: int, *needles: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for needle in needles:
        assert needle in r.text, (needle, r.text)
    return body


def test_errors_are_problem_json_never_500(http: httpx.Client) -> None:
    body = assert_problem(http.post("/tasks/", json={"task_type": "nope"}), 422, "nope", "echo")
    assert "matrix_multiply" in body["known_task_types"]  # type: ignore[operator]
    bad_payload = {"task_type": "matrix_multiply", "payload": {"size": -1}}
    assert_problem(http.post("/tasks/", json=bad_payload), 422, "payload.size")
    assert_problem(
        http.post("/tasks/", json={"task_type": "echo", "priority": 999}), 422, "priority"
    )
    assert_problem(http.post("/tasks/", json={"payload": 1}), 422, "task_type")
    assert_problem(http.post("/tasks/", json={"task_type": "echo", "queue": "a.b"}), 422, "queue")
    json_header = {"content-type": "application/json"}
    malformed = http.post("/tasks/", content=b"{not json", headers=json_header)
    assert_problem(malformed, 400, "not valid JSON")
    long_key = {"Idempotency-Key": "k" * 201}  # the header's bound, not the body's
    assert_problem(http.post("/tasks/", json={"task_type": "echo"}, headers=long_key), 422)
    assert http.post("/tasks", json={"task_type": "echo"}).status_code == 202  # no slash
    assert http.get("/tasks/").status_code == 405  # GET /tasks (no slash) lists
    assert_problem(http.get("/tasks/default.doesnotexist"), 404, "default.doesnotexist")
    assert_problem(http.get("/tasks/no-queue-in-this-id"), 404, "malformed")
    assert_problem(http.post("/tasks/default.missing/cancel"), 404)
    assert_problem(http.get("/tasks/x.y/result", params={"wait": 9999}), 422, "wait")
    assert_problem(http.get("/nothing-here"), 404)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"prority": 1}, "prority"),  # a misspelt field is refused, not ignored
        ({"priority": "1"}, "priority"),  # JSON types as the schema says, no coercion
        ({"delay_seconds": True}, "delay_seconds"),
        ({"eta": 0}, "eta"),
        ({"delay_seconds": 1, "eta": "2030-01-01T00:00:00Z"}, "not both"),
        ({"payload": {"size": "10"}}, "payload.size"),
        ({"payload": {"size": 10.5}}, "payload.size"),
    ],
)
def test_submission_matches_its_published_schema(
    http: httpx.Client, queue_name: str, fields: dict[str, object], named: str
) -> None:
    good = {"task_type": "matrix_multiply", "payload": {"size": 10}, "queue": queue_name}
    assert_problem(http.post("/tasks/", json={**good, **fields}), 422, named)
    integral = {**good, "payload": {"size": 10.0}}  # JSON Schema: 10.0 is an integer
    assert http.post("/tasks/", json=integral).status_code == 202


def test_openapi_gives_each_task_type_its_payload_schema(http: httpx.Client) -> None:
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    branches = {
        b["properties"]["task_type"]["const"]: b for b in schemas["TaskSubmission"]["oneOf"]
    }
    assert {"echo", "matrix_multiply", "sleep", "io", "flaky", "cpu"} <= set(branches)
    matrix = branches["matrix_multiply"]
    assert matrix["required"] == ["payload"]
    assert matrix["properties"]["payload"]["properties"]["size"]["maximum"] == 2000
    assert branches["echo"]["properties"]["payload"] == {"$ref": "#/components/schemas/JsonValue"}
    # JsonValue: anything, at any depth, but an integer beyond 64 bits (as the API decides).
    json_value = {"$ref": "#/components/schemas/JsonValue", "components": {"schemas": schemas}}
    valid = jsonschema.Draft202012Validator(json_value).is_valid
    assert all(valid(v) for v in (None, "s", 1.5, 2**64 - 1, -(2**63), [{"a": [True]}]))
    assert not any(valid(v) for v in (2**64, [{"a": -(2**63) - 1}], {"b": {"c": 2**70}}))


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    assert http.get("/openapi.json").json()["info"]["title"] == "taskq"
