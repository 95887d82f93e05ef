"""Network faults end to end: a shortened ``scenarios/partition.yaml`` through ``lab run``
(real Redis, API, workers and proxies), its invariants read from the results folder; and
the API cut off from Redis answering 503 with Retry-After within a second."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import redis
import uvloop
import yaml

from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyServer
from system.client import AsyncClient
from system.core import ops
from system.redis_server import RedisServer
from tests.lab.conftest import REPO, run_lab
from tests.system.api.conftest import running_api


def test_partition_scenario_short(tmp_path: Path) -> None:
    scenario = yaml.safe_load((REPO / "scenarios" / "partition.yaml").read_text())
    # The scenario's 2 s lease (a shorter one expires under a loaded CI machine's
    # scheduling delays too), cut off for 2 x the lease instead of 3, 9 s of load.
    scenario["load"]["duration_seconds"] = 9
    scenario["system"]["prometheus"] = "off"  # metrics are not under test: keep it short
    # The busiest worker, not the oldest: the oldest leads queue maintenance and gets
    # fewer tasks, so on a loaded machine it could hold none when cut off.
    scenario["events"][0] |= {"at_seconds": 2, "duration_seconds": 4, "which": "busiest"}
    scenario["events"].append(
        {"at_seconds": 1, "action": "latency", "target": "api", "ms": 50, "duration_seconds": 1}
    )
    scenario["report"] = {"metrics_interval_seconds": 0.5, "drain_timeout_seconds": 20}
    path = tmp_path / "partition.yaml"
    path.write_text(yaml.safe_dump(scenario))

    done = run_lab("run", str(path), "--out", str(tmp_path / "out"), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = list((tmp_path / "out").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    p = summary["partition"]
    assert summary["lost"] == 0 and summary["accepted"] > 100
    assert p["held_at_cut"] > 0  # it was cut off while holding tasks
    assert p["redelivered"] > 0 and p["held_redelivered"] > 0
    assert p["stale_completions_rejected"] > 0  # its late completions came, and were refused
    assert p["results_from_cut_off_worker"] == 0
    assert summary["duplicates"] <= summary["in_flight_at_partitions"]
    assert all(c["passed"] for c in summary["checks"]), summary["checks"]

    events = pd.read_csv(run_dir / "events.csv")
    (cut,) = events[events["action"] == "partition"].to_dict("records")
    assert cut["processes"] in {"worker-1", "worker-2", "worker-3"}  # which: busiest
    assert cut["requested_s"] <= cut["effective_s"] < cut["lifted_s"]
    assert cut["lifted_s"] - cut["requested_s"] == pytest.approx(4, abs=0.5)
    (slow,) = events[events["action"] == "latency"].to_dict("records")
    assert slow["processes"] == "api" and pd.isna(slow["note"])
    assert slow["lifted_s"] - slow["effective_s"] == pytest.approx(1, abs=0.5)
    tasks = pd.read_csv(run_dir / "tasks.csv")
    during = tasks[(tasks["intended_s"] >= 1.1) & (tasks["intended_s"] < 1.9)]
    assert (during["acked_s"] - during["sent_s"]).median() >= 0.05  # submits paid the latency
    assert (tasks[tasks["submit"] == "accepted"]["state"] == "succeeded").all()


@pytest.fixture(scope="module")
def _api_stack(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ToxiproxyClient]]:
    """One API whose Redis connection goes through the proxy ``redis-api``, for the module."""
    with ToxiproxyServer(seed=1) as server:
        client = ToxiproxyClient(server.url)
        upstream = redis_server.url.split("//", 1)[1].split("/", 1)[0]
        listen = client.create_proxy("redis-api", upstream)["listen"]
        log = tmp_path_factory.mktemp("api") / "api.log"
        try:
            # A 1 s reply timeout (the default is 2 s): the blackhole test bounds the 503.
            timeout = {"TASKQ_API__REDIS_REPLY_TIMEOUT_SECONDS": "1"}
            with running_api(f"redis://{listen}/0", log, env=timeout) as url:
                yield url, client
        finally:
            client.close()


@pytest.fixture
def api_through_proxy(
    _api_stack: tuple[str, ToxiproxyClient],
) -> Iterator[tuple[str, ToxiproxyClient]]:
    yield _api_stack
    _api_stack[1].reset()  # every proxy enabled again, every toxic gone


def test_api_cut_off_answers_503_fast(api_through_proxy: tuple[str, ToxiproxyClient]) -> None:
    url, proxies = api_through_proxy
    task = {"task_type": "echo", "payload": {"n": 1}, "queue": "toxi"}
    assert httpx.post(f"{url}/tasks/", json=task, timeout=5).status_code == 202
    proxies.set_enabled("redis-api", False)
    for _ in range(3):
        start = time.monotonic()
        r = httpx.post(f"{url}/tasks/", json=task, timeout=5)
        assert time.monotonic() - start < 1.0
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert r.headers["content-type"].startswith("application/problem+json")
    proxies.set_enabled("redis-api", True)
    assert httpx.post(f"{url}/tasks/", json=task, timeout=5).status_code == 202


def test_api_blackholed_answers_503_fast(api_through_proxy: tuple[str, ToxiproxyClient]) -> None:
    """Packets dropped, connection open (a timeout toxic): no reply ever comes, and the API
    still answers 503 within its reply timeout (1 s here)."""
    url, proxies = api_through_proxy
    task = {"task_type": "echo", "payload": {"n": 1}, "queue": "toxi"}
    assert httpx.post(f"{url}/tasks/", json=task, timeout=5).status_code == 202
    proxies.add_toxic("redis-api", "timeout", {"timeout": 0}, stream="upstream")
    for method, path in (("POST", "/tasks/"), ("GET", "/readyz")):
        start = time.monotonic()
        r = httpx.request(method, f"{url}{path}", json=task if method == "POST" else None)
        assert time.monotonic() - start < 1.5, path
        assert r.status_code == 503 and r.headers["Retry-After"], path
    proxies.remove_toxic("redis-api", "timeout_upstream")
    assert httpx.post(f"{url}/tasks/", json=task, timeout=5).status_code == 202


def test_api_reset_answers_503_never_500(api_through_proxy: tuple[str, ToxiproxyClient]) -> None:
    url, proxies = api_through_proxy
    task = {"task_type": "echo", "payload": {"n": 1}, "queue": "toxi"}
    task_id = httpx.post(f"{url}/tasks/", json=task, timeout=5).json()["id"]
    assert httpx.get(f"{url}/tasks/{task_id}", timeout=5).status_code == 200
    proxies.add_toxic("redis-api", "reset_peer", {"timeout": 0})
    time.sleep(0.3)  # the API's loop sees the RST on its idle pooled connection
    for method, path in (("GET", f"/tasks/{task_id}"), ("POST", "/tasks/"), ("GET", "/queues")):
        r = httpx.request(method, f"{url}{path}", json=task if method == "POST" else None)
        assert r.status_code == 503, (path, r.status_code, r.text)
    proxies.remove_toxic("redis-api", "reset_peer_downstream")
    assert httpx.get(f"{url}/tasks/{task_id}", timeout=5).status_code == 200


def test_client_reports_a_reset_connection_as_a_connection_error(
    redis_url: str, queue_name: str
) -> None:
    """On uvloop (what workers and the API run), the first command after the peer reset an
    idle pooled connection used to raise RuntimeError ("the handler is closed"), which
    killed workers; it must be a redis ConnectionError, which they ride out, and the pool
    must recover."""
    with ToxiproxyServer(seed=1) as server:
        proxies = ToxiproxyClient(server.url)
        upstream = redis_url.split("//", 1)[1].split("/", 1)[0]
        listen = proxies.create_proxy("redis-worker", upstream)["listen"]

        def claim() -> Any:
            return ops.claim(queue_name, int(time.time() * 1000), 1000, 1, "w")

        async def main() -> list[str]:
            outcomes = []
            async with AsyncClient(f"redis://{listen}/0") as client:
                await client.run(claim())
                proxies.add_toxic("redis-worker", "reset_peer", {"timeout": 0})
                await asyncio.sleep(0.3)  # the loop sees the RST and closes the transport
                for _ in range(2):
                    with pytest.raises(redis.ConnectionError) as caught:
                        await client.run(claim())
                    outcomes.append(str(caught.value))
                proxies.remove_toxic("redis-worker", "reset_peer_downstream")
                assert await client.run(claim()) == []
            return outcomes

        assert len(uvloop.run(main())) == 2
        proxies.close()


def test_network_event_needs_network_faults() -> None:
    from pydantic import ValidationError

    from lab.scenario.model import Scenario

    event = {"at_seconds": 1, "action": "partition", "duration_seconds": 2}
    with pytest.raises(ValidationError, match=r"events\[0\] \(partition\) needs system.network"):
        Scenario.model_validate({"name": "x", "events": [event]})
    ok = Scenario.model_validate(
        {"name": "x", "system": {"network_faults": True}, "events": [event]}
    )
    assert ok.events[0].action == "partition"
    with pytest.raises(ValidationError, match="kb_per_second"):
        Scenario.model_validate(
            {
                "name": "x",
                "system": {"network_faults": True},
                "events": [{"at_seconds": 1, "action": "bandwidth", "duration_seconds": 2}],
            }
        )
    with pytest.raises(ValidationError, match=r"checks\.partition needs a partition"):
        Scenario.model_validate({"name": "x", "checks": {"partition": {}}})
