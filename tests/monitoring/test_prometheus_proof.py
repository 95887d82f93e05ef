"""The proof: a real Prometheus scrapes a real API and two real workers under a mixed
load (successes, retries, dead-letters, a time-out, a cancellation). Then every panel
query of every dashboard and every rule evaluates without error and returns data, the
alert rules evaluate healthily (the failure-ratio alert goes active), and the counters
Prometheus holds equal what Redis recorded."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lab.backends.prometheus_server import (
    PrometheusServer,
    render_prometheus_config,
    write_targets,
)
from system.client import Client
from system.redis_server import RedisServer, free_port
from system.supervisor import TaskqProcess
from tests.monitoring.conftest import MONITORING, need
from tests.system.api.conftest import running_api
from tests.system.conftest import FAST_ENV

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
QUEUE = "work"
# Substitutions Grafana makes before a query reaches Prometheus.
GRAFANA_VARS = {"$queue": QUEUE, "$__rate_interval": "1m"}
FLAKY_SEEDS = range(30)


class Prom:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = self.http.get("/api/v1/query", params={"query": expr}).json()
        assert reply["status"] == "success", (expr, reply)
        result: list[dict[str, Any]] = reply["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, what: str, check: Callable[[], bool], timeout_seconds: float = 20) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.25)


def _flaky_failures() -> int:
    # The flaky handler draws random.Random(seed).random() on every attempt.
    return sum(random.Random(s).random() < 0.5 for s in FLAKY_SEEDS)


def _load() -> list[dict[str, Any]]:
    work = [{"task_type": "echo", "payload": i} for i in range(60)]
    work += [{"task_type": "sleep", "payload": {"seconds": 0.05}} for _ in range(20)]
    work += [
        {"task_type": "flaky", "payload": {"probability": 0.5, "seed": s}, "max_retries": 2}
        for s in FLAKY_SEEDS
    ]
    work += [
        {"task_type": "sleep", "payload": {"seconds": 5}, "timeout_seconds": 0.2, "max_retries": 0}
        for _ in range(3)
    ]
    return [{**t, "queue": QUEUE} for t in work]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Prom, Client]]:
    """Redis, the API, two workers with /metrics, and Prometheus scraping them all."""
    need("prometheus", "prometheus")
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        api = stack.enter_context(running_api(redis.url, tmp_path / "api.log"))
        worker_ports = [free_port(), free_port()]
        env = {**FAST_ENV, "TASKQ_QUEUE__LEASE_SECONDS": "5"}  # no lease expires by accident
        for i, port in enumerate(worker_ports):
            w = TaskqProcess(
                redis.url,
                ["-Q", QUEUE, "-c", "8", "--metrics-port", str(port)],
                env=env,
                log_path=tmp_path / f"worker-{i}.log",
            )
            stack.callback(w.stop, 10)
        workers_file = tmp_path / "workers.json"
        write_targets(workers_file, [f"127.0.0.1:{p}" for p in worker_ports])
        config = render_prometheus_config([api.removeprefix("http://")], workers_file)
        prometheus = stack.enter_context(PrometheusServer(config, tmp_path / "prometheus"))
        prom = Prom(prometheus.url)
        stack.callback(prom.http.close)
        prom.wait_for("3 targets up", lambda: prom.scalar("sum(up)") == 3)
        client = stack.enter_context(Client(redis.url))
        yield api, prom, client


def test_dashboards_rules_and_counters_hold_against_a_real_prometheus(
    stack: tuple[str, Prom, Client],
) -> None:
    api, prom, client = stack
    with httpx.Client(base_url=api, timeout=30) as http:
        tasks = _load()
        assert http.post("/tasks/batch", json={"tasks": tasks}).status_code == 202
        slow = http.post(
            "/tasks/", json={"task_type": "sleep", "payload": {"seconds": 30}, "queue": QUEUE}
        ).json()["id"]
        prom.wait_for("the slow task to run", lambda: client.get(slow).state == "running")
        assert http.post(f"/tasks/{slow}/cancel").status_code == 200
        prom.wait_for("the load to finish", lambda: _idle(client), timeout_seconds=30)
        # Two tasks left waiting in a paused queue: the oldest-queued series has data.
        assert http.post(f"/queues/{QUEUE}/pause").status_code in (200, 204)
        for i in range(2):
            http.post("/tasks/", json={"task_type": "echo", "payload": i, "queue": QUEUE})
    submitted = len(tasks) + 3
    truth = client.stats(QUEUE).counters

    # Ground truth: what Prometheus scraped equals what Redis recorded.
    def total(expr: str) -> float | None:
        return prom.scalar(f"sum({expr})")

    runs = f'taskq_task_executions_total{{queue="{QUEUE}"'
    expected = {
        f'{runs}, outcome="succeeded"}}': truth["succeeded"],
        f'{runs}, outcome="retried"}}': truth["retried"],
        f'{runs}, outcome=~"failed|timed_out"}}': truth["failed"],
        f'{runs}, outcome="timed_out"}}': 3,
        f'{runs}, outcome="cancelled"}}': truth["cancelled"],
        f'taskq_tasks_submitted_total{{queue="{QUEUE}"}}': submitted,
        f'max(taskq_dead_lettered_total{{queue="{QUEUE}"}})': truth["failed"],
        f'max(taskq_queue_depth{{queue="{QUEUE}", state="queued"}})': 2,
        # The KEDA example's trigger (monitoring/keda/scaledobject.yaml), for this queue.
        _keda_query().replace('queue="default"', f'queue="{QUEUE}"'): 2,
        f'taskq_task_execution_duration_seconds_count{{queue="{QUEUE}"}}': sum(
            truth[k] for k in ("succeeded", "retried", "failed", "cancelled")
        ),
    }
    prom.wait_for(
        "Prometheus to scrape the final counts",
        lambda: all(total(e) == v for e, v in expected.items()),
    )
    failures = _flaky_failures()
    assert truth["failed"] == failures + 3 and truth["retried"] == 2 * failures
    assert truth["succeeded"] == 60 + 20 + (30 - failures) and truth["cancelled"] == 1

    # Every rule: Prometheus records each recording rule (once two scrapes of the series
    # it reads exist), and evaluating each expression ourselves returns data (recording)
    # or at least no error (alerts: empty unless they fire).
    groups = [yaml.safe_load(p.read_text()) for p in sorted((MONITORING / "rules").glob("*.yml"))]
    rules = [r for g in groups for group in g["groups"] for r in group["rules"]]
    recorded = [r["record"] for r in rules if "record" in r]
    prom.wait_for(
        "every recording rule to be recorded", lambda: all(prom.query(r) for r in recorded)
    )
    problems = []
    for rule in rules:
        if not prom.query(rule["expr"]) and "record" in rule:
            problems.append(f"recording rule {rule['record']}: no data")

    # Every panel query of every dashboard, as Grafana would send it.
    for expr, where in _dashboard_queries():
        if not prom.query(expr):
            problems.append(f"{where}: no data for {expr}")
    assert not problems, "\n".join(problems)
    values = prom.http.get(
        "/api/v1/label/queue/values", params={"match[]": "taskq_queue_depth"}
    ).json()
    assert QUEUE in values["data"]

    def evaluated() -> list[dict[str, Any]]:
        reply = prom.http.get("/api/v1/rules").json()["data"]["groups"]
        return [r for g in reply for r in g["rules"]]

    prom.wait_for("every rule evaluated", lambda: len(evaluated()) == len(rules))
    for rule in evaluated():
        assert rule["health"] == "ok", rule
    states = {r["name"]: r["state"] for r in evaluated() if r["type"] == "alerting"}
    prom.wait_for(
        "the failure-ratio alert to go active",
        lambda: (
            {r["name"]: r["state"] for r in evaluated() if r["type"] == "alerting"}[
                "TaskqFailureRatioHigh"
            ]
            in ("pending", "firing")
        ),
    )
    assert states["TaskqNoLiveWorkers"] == "inactive"
    assert states["TaskqApiErrors"] == "inactive"


def _keda_query() -> str:
    scaled = yaml.safe_load((MONITORING / "keda" / "scaledobject.yaml").read_text())
    (trigger,) = scaled["spec"]["triggers"]
    query: str = trigger["metadata"]["query"]
    assert query.startswith("max(") and 'queue="default"' in query, query
    return query


def _idle(client: Client) -> bool:
    s = client.stats(QUEUE)
    return s.queued + s.scheduled + s.running == 0


def _dashboard_queries() -> Iterator[tuple[str, str]]:
    for path in sorted((MONITORING / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                assert "$" not in expr, f"unsubstituted variable in {expr}"
                yield expr, f"{dashboard['uid']} / {panel['title']}"
