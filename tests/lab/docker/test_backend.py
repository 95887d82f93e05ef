"""``system.backend: docker`` end to end: lab runs whose every role is a container.

The quickstart passes the same checks as on the local backend; a run with a SIGKILLed
worker, a scale up and down, a paused worker and a Redis crash (AOF always) loses
nothing; after success, failure, Ctrl-C, and a killed lab followed by ``lab clean``, no
container of the run is left (``docker ps -a --filter label=org.taskq.lab.run=<run>``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pandas as pd
import pytest

from lab.backends.docker.backend import DockerBackend
from lab.backends.docker.containers import of_run, run_id
from lab.scenario.model import Scenario
from system.client import Client
from tests.lab.conftest import REPO, lab_command, run_lab
from tests.lab.docker.conftest import BUILD_TIMEOUT_SECONDS, LabImages

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT_SECONDS)]
RUN_TIMEOUT_SECONDS = 240  # a run starts its containers on a loaded 2-core machine


def docker_args(image: str, *more: str) -> list[str]:
    sets = ["system.backend=docker", f"system.docker.image={image}", *more]
    return [a for s in sets for a in ("--set", s)]


def only_run(out: Path) -> Path:
    (run_dir,) = list(out.iterdir())
    return run_dir


def left_of(client: docker.DockerClient, run_dir: Path) -> list[str]:
    return [str(c.name) for c in of_run(client, run_id(run_dir))]


def test_quickstart_on_docker_passes_the_local_checks(
    lab_images: LabImages, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    done = run_lab(
        "run",
        "scenarios/quickstart.yaml",
        "--out",
        str(out),
        *docker_args(
            lab_images.project.tag,
            "system.docker.worker_cpus=0.5",
            "system.docker.worker_memory_mb=256",
        ),
        timeout=RUN_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = only_run(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["passed"] and summary["lost"] == 0
    assert {c["name"] for c in summary["checks"]} == {
        "no_task_lost",
        "max_duplicates",
        "drained_within",
        "latency_p99_below",
        "accepted_share_at_least",
    }
    env = json.loads((run_dir / "environment.json").read_text())
    backend = env["backend"]
    assert backend["name"] == "docker" and backend["engine"]["version"]
    engine = backend["engine"]
    assert engine["cgroup_version"] in ("1", "2")
    # cgroupfs: each container below the root cgroup, not all in one shared `docker` one
    assert engine["cgroup_parent"] == ("/" if engine["cgroup_driver"] == "cgroupfs" else None)
    assert backend["host_load_average_1m"] >= 0
    assert backend["images"]["worker"]["id"] == lab_images.project.id
    assert backend["limits"]["worker"] == {"cpus": 0.5, "memory_mb": 256}
    assert backend["limits"]["api"] == {"cpus": None, "memory_mb": None}
    assert env["metrics_source"] == "prometheus"  # from the Prometheus container
    logs = {p.name for p in (run_dir / "logs").iterdir()}
    assert {"redis.log", "api.log", "prometheus.log", "worker-1.log", "worker-3.log"} <= logs
    assert "Ready to accept connections" in (run_dir / "logs" / "redis.log").read_text()
    assert left_of(docker_client, run_dir) == []


FAULTS: dict[str, Any] = {
    "name": "docker_faults",
    "description": "every kind of process event on containers, and a network fault",
    "seed": 5,
    "system": {
        "workers": 2,
        "concurrency": 16,
        # Longer than the pause and the partition: no lease expires during them (that
        # would redeliver what the worker holds: duplicates not caused by the kill).
        "lease_seconds": 3,
        "prometheus": "off",
        "network_faults": True,
        "redis": {"persistence": "aof-always"},
    },
    "load": {
        "duration_seconds": 12,
        # About 18 tasks in flight, each held for 800 ms: a worker cut off or killed holds
        # some even if the lab's loop pauses for a few hundred ms (arrivals pause with it;
        # with 300 ms tasks the busiest worker was once cut off holding none).
        "arrivals": {"kind": "constant", "rate_per_second": 30},
        "mix": [
            {"task_type": "io", "weight": 3, "payload": {"ms": 800}},
            {"task_type": "echo", "payload": {"x": 1}},
        ],
    },
    "events": [
        # busiest: the worker holding the most tasks (by its last heartbeat)
        {
            "at_seconds": 2,
            "action": "partition",
            "target": "worker",
            "which": "busiest",
            "duration_seconds": 1,
        },
        {"at_seconds": 3.5, "action": "kill_worker", "signal": "SIGKILL", "which": "busiest"},
        {"at_seconds": 4, "action": "scale_workers", "workers": 3},
        {"at_seconds": 5.5, "action": "pause", "target": "worker", "which": "newest"},
        {"at_seconds": 6.5, "action": "resume", "target": "worker"},
        {"at_seconds": 8, "action": "restart_redis", "crash": True},
        {"at_seconds": 10, "action": "scale_workers", "workers": 1},
    ],
    "checks": {
        "no_task_lost": True,
        "max_duplicates": "in_flight_at_kills",
        "drained_within_seconds": 30,
    },
    "report": {"metrics_interval_seconds": 0.5, "drain_timeout_seconds": 60},
}


def test_kill_scale_pause_partition_and_redis_crash_lose_nothing(
    lab_images: LabImages,
    docker_client: docker.DockerClient,
    scenario_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    done = run_lab(
        "run",
        str(scenario_file(FAULTS)),
        "--out",
        str(out),
        *docker_args(lab_images.project.tag),
        timeout=RUN_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = only_run(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    events = pd.read_csv(run_dir / "events.csv")
    assert events["note"].isna().all(), events[["action", "note"]]
    assert events["effective_s"].notna().all(), events
    partition, kill, up, pause, resume, restart, down = (row for _, row in events.iterrows())
    # Through the worker's own proxy; what it held is known by its pid (the host's).
    assert partition["processes"] in ("worker-1", "worker-2") and partition["in_flight"] > 0
    assert partition["lifted_s"] > partition["effective_s"]
    # The container was killed while its worker held tasks; they were redelivered.
    assert kill["processes"] in ("worker-1", "worker-2") and kill["in_flight"] > 0
    tasks = pd.read_csv(run_dir / "tasks.csv")
    accepted = tasks[tasks["submit"] == "accepted"]
    assert summary["lost"] == 0 and (accepted["state"] == "succeeded").all()
    assert int((accepted["attempts"] > 1).sum()) >= kill["in_flight"]
    assert summary["duplicates"] <= kill["in_flight"] + partition["in_flight"]
    assert up["processes"] == "worker-3,worker-4"
    assert pause["processes"] == "worker-4" == resume["processes"]
    assert restart["processes"] == "redis"
    assert down["processes"] == "worker-4,worker-3"  # newest first, SIGTERM each
    logs = {p.name for p in (run_dir / "logs").iterdir()}
    assert {f"worker-{n}.log" for n in (1, 2, 3, 4)} | {"toxiproxy.log"} <= logs
    assert left_of(docker_client, run_dir) == []


def failing_quickstart(
    lab_images: LabImages, out: Path, override: str
) -> subprocess.CompletedProcess[str]:
    """The quickstart on docker (no Prometheus) with one override that makes it fail: the
    lab's exit code is 3 (the run failed)."""
    args = docker_args(lab_images.project.tag, override, "system.prometheus=off")
    done = run_lab(
        "run", "scenarios/quickstart.yaml", "--out", str(out), *args, timeout=RUN_TIMEOUT_SECONDS
    )
    assert done.returncode == 3, done.stdout + done.stderr
    return done


def test_failed_run_removes_its_containers(
    lab_images: LabImages, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    done = failing_quickstart(lab_images, out, "system.imports=[no_such_handlers]")
    assert "the API did not start" in done.stderr
    run_dir = only_run(out)
    assert "no_such_handlers" in (run_dir / "logs" / "api.log").read_text()
    assert left_of(docker_client, run_dir) == []


def test_memory_limit_in_force_a_worker_over_it_fails_the_run(
    lab_images: LabImages, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    done = failing_quickstart(lab_images, out, "system.docker.worker_memory_mb=32")
    assert "exited with 137 (killed: over its memory limit)" in done.stderr  # importing
    assert left_of(docker_client, only_run(out)) == []


LONG = {**FAULTS, "events": [], "load": {**FAULTS["load"], "duration_seconds": 120}}


def start_then(sig: int, path: Path, out: Path, image: str) -> tuple[Path, list[str], int]:
    """Start a long docker run, wait until its load runs, send ``sig``: the run folder,
    the containers it had, the lab's exit code."""
    proc = subprocess.Popen(
        lab_command("run", str(path), "--out", str(out), *docker_args(image)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    output = []
    for line in proc.stdout:  # the progress line appears once the load has started
        output.append(line.decode(errors="replace"))
        if "elapsed" in output[-1] or time.monotonic() > deadline:
            break
    run_dir = only_run(out)
    client = docker.from_env()
    try:
        had = left_of(client, run_dir)
    finally:
        client.close()
    proc.send_signal(sig)
    code = proc.wait(60)
    proc.stdout.close()
    assert had, "".join(output)
    return run_dir, had, code


def test_ctrl_c_removes_every_container(
    lab_images: LabImages,
    docker_client: docker.DockerClient,
    scenario_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = scenario_file(LONG)
    run_dir, had, code = start_then(signal.SIGINT, path, tmp_path / "r", lab_images.project.tag)
    assert len(had) == 4 and code == 130  # redis, api, two workers
    assert left_of(docker_client, run_dir) == []


def test_lab_clean_removes_what_a_killed_lab_left(
    lab_images: LabImages,
    docker_client: docker.DockerClient,
    scenario_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = scenario_file(LONG)
    run_dir, had, code = start_then(signal.SIGKILL, path, tmp_path / "r", lab_images.project.tag)
    assert code == -signal.SIGKILL
    assert sorted(left_of(docker_client, run_dir)) == sorted(had)  # nobody removed them
    done = run_lab("clean")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"({run_id(run_dir)})" in done.stdout
    assert left_of(docker_client, run_dir) == []


# ---- the backend itself ---------------------------------------------------------------


@pytest.fixture
def backend(lab_images: LabImages, tmp_path: Path) -> Iterator[DockerBackend]:
    scenario = Scenario.model_validate(
        {
            "name": "pause",
            "system": {
                "backend": "docker",
                "workers": 2,
                "concurrency": 4,
                "prometheus": "off",
                "docker": {"image": lab_images.project.tag},
            },
        }
    )
    made = DockerBackend(scenario, tmp_path / "run")
    made.start()
    try:
        yield made
    finally:
        made.stop()


def _done_by(client: Client, n: int, ms: int) -> list[str]:
    """Submit n io tasks, wait for each: the workers that ran them."""
    ids = [client.submit("io", {"ms": ms}).id for _ in range(n)]
    return [str(client.wait(i, timeout_seconds=60).worker) for i in ids]


def test_a_paused_container_runs_nothing_until_resumed(
    backend: DockerBackend, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with Client(backend.redis_url) as client:
        by_pid = {w.pid: w.id for w in client.workers()}
        assert set(by_pid) == set(backend.worker_pids())  # registered under host pids
        paused = backend.pause("worker", "oldest")
        assert paused is not None and paused.process == "worker-1"
        (frozen,) = [
            c for c in of_run(docker_client, run_id(tmp_path / "run")) if c.status == "paused"
        ]
        assert str(frozen.name).endswith("-worker-1")
        frozen_id = by_pid[backend.worker_pids()[0]]
        assert frozen_id not in _done_by(client, 12, 200)  # the other one ran them all
        (resumed,) = backend.resume("worker")
        assert resumed.process == "worker-1"
        assert frozen_id in _done_by(client, 24, 300)  # both take tasks again
    backend.stop()
    assert of_run(docker_client, run_id(tmp_path / "run")) == []
