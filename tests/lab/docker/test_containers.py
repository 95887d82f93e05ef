"""The system in containers: Redis and a quarter-CPU worker from the project image, on
host networking (loopback), serving a task submitted from the host."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from system.client import Client
from system.redis_server import free_port
from tests.lab.docker.conftest import BUILD_TIMEOUT_SECONDS, Containers, LabImages

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT_SECONDS)]
NO_PERSISTENCE = ["--save", "", "--appendonly", "no", "--dir", "/tmp"]
START_SECONDS = 60.0  # a worker at a quarter of a CPU imports the system in a few seconds


def wait_for(what: str, ready: object, timeout_seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not callable(ready) or not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready in {timeout_seconds} s")
        time.sleep(0.1)


def test_worker_container_serves_a_task_from_the_host(
    lab_images: LabImages, containers: Containers
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = containers.start(
        lab_images.project.tag,
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), *NO_PERSISTENCE],
        network_mode="host",
    )

    def pings() -> bool:
        try:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as r:
                return bool(r.ping())
        except redis.ConnectionError:
            server.reload()
            assert server.status in ("created", "running"), server.logs().decode()
            return False

    wait_for("redis in its container", pings)
    queue = "t" + uuid.uuid4().hex[:12]
    worker = containers.start(
        lab_images.project.tag,
        ["taskq", "worker", "-Q", queue, "-c", "2", "--log-level", "info"],
        network_mode="host",
        nano_cpus=250_000_000,  # --cpus 0.25
        environment={"TASKQ_REDIS_URL": url},
    )
    assert worker.attrs["HostConfig"]["NanoCpus"] == 250_000_000
    with Client(url) as client:
        wait_for("the worker's registration", lambda: bool(client.workers()))
        (registered,) = client.workers()
        assert registered.pid == 1  # its own pid namespace: the container's first process
        started = time.monotonic()
        sub = client.submit("echo", {"hello": "docker"}, queue=queue)
        record = client.wait(sub.id, timeout_seconds=30)
        round_trip = time.monotonic() - started
    assert record.state == "succeeded", (record, worker.logs().decode())
    assert record.result == {"hello": "docker"}
    assert record.worker == registered.id
    print(f"task round trip through the container worker: {round_trip * 1000:.0f} ms")
    containers.remove_all()
    assert containers.listed() == []  # docker ps -a --filter label=org.taskq.test=<uuid>
