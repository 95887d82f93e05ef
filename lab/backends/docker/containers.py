"""The containers of a lab run: names, labels, limits, logs, and cleaning up.

Every container of a run carries three labels: ``org.taskq.lab.run`` (the run id),
``org.taskq.lab.role`` (redis, api, worker, prometheus) and ``org.taskq.lab.owner``
(``host:pid`` of the lab process that started it). Its name says run and role:
``lab-<run>-worker-3``. ``docker ps -a --filter label=org.taskq.lab.run=<run>`` lists a
run's containers; ``lab clean`` removes those whose lab process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.containers
import requests

Container = docker.models.containers.Container

RUN_LABEL = "org.taskq.lab.run"
ROLE_LABEL = "org.taskq.lab.role"
OWNER_LABEL = "org.taskq.lab.owner"
NAME_PREFIX = "lab"
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_.-]+")


def run_id(run_dir: Path) -> str:
    """The run's id in names and labels: its folder's name (a sweep cell's is not unique,
    so a hash of the whole path follows), in the characters a container name allows."""
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:6]
    return f"{_NOT_NAME.sub('-', run_dir.name).strip('-.')[:60]}-{digest}"


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Limits:
    """A role's CPU quota (CPUs) and memory limit (MB); None: no limit."""

    cpus: float | None = None
    memory_mb: int | None = None

    def options(self) -> dict[str, Any]:
        """The Docker SDK's ``containers.run`` options for these limits."""
        out: dict[str, Any] = {}
        if self.cpus is not None:
            out["nano_cpus"] = round(self.cpus * 1e9)
        if self.memory_mb is not None:
            # Memory and memory+swap alike: a worker over its limit is OOM-killed rather
            # than slowed down by swapping, which would measure the disk.
            out["mem_limit"] = out["memswap_limit"] = self.memory_mb * 1024 * 1024
        return out


def applied_limits(container: Container) -> dict[str, float | int | None]:
    """What the engine enforces on a container (read back, not what was asked)."""
    host = container.attrs.get("HostConfig", {})
    nano, memory = int(host.get("NanoCpus") or 0), int(host.get("Memory") or 0)
    return {
        "cpus": nano / 1e9 if nano else None,
        "memory_mb": memory // (1024 * 1024) if memory else None,
    }


def save_logs(container: Container, path: Path) -> None:
    """The container's output (stdout and stderr, every start of it) into ``path``."""
    with contextlib.suppress(docker.errors.APIError, requests.RequestException):
        path.write_bytes(container.logs(stdout=True, stderr=True))


def remove(container: Container) -> None:
    """Force-remove (a running container is killed first); gone already is fine."""
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)


def of_run(client: docker.DockerClient, run: str) -> list[Container]:
    """``docker ps -a --filter label=org.taskq.lab.run=<run>``."""
    found: list[Container] = client.containers.list(
        all=True, filters={"label": f"{RUN_LABEL}={run}"}
    )
    return found


def _owner_alive(label: str) -> bool | None:
    """Whether the lab process named by an owner label still runs (None: another host)."""
    host, _, pid = label.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def leftovers(client: docker.DockerClient, *, every: bool = False) -> list[Container]:
    """The lab's containers whose lab process is gone (a killed run); ``every``: all of
    them, runs in progress and runs started on other hosts included."""
    found: list[Container] = client.containers.list(all=True, filters={"label": RUN_LABEL})
    if every:
        return found
    return [c for c in found if _owner_alive(c.labels.get(OWNER_LABEL, "")) is False]


def cgroup_parent(client: docker.DockerClient) -> str | None:
    """Where a run's containers go in the cgroup tree: with the cgroupfs driver, each
    directly below the root, so that it competes for CPU with each busy process of the
    host as one of them. Docker's default there is one ``docker`` cgroup for every
    container, which the kernel weighs like a single process: on a host busy with other
    work all containers together then get one process's share (two got 0.36 CPU at a
    load average of 10). The systemd driver's slices are left as they are (None)."""
    with contextlib.suppress(docker.errors.APIError, requests.RequestException):
        if client.info().get("CgroupDriver") == "cgroupfs":
            return "/"
    return None


class RunContainers:
    """Starts one run's containers (labelled, named, host networking, host pid namespace)
    and removes them, their logs saved into ``logs``."""

    def __init__(self, client: docker.DockerClient, run: str, logs: Path) -> None:
        self.client = client
        self.run = run
        self.logs = logs
        self._owner = owner()
        self.cgroup_parent = cgroup_parent(client)

    def start(
        self,
        name: str,
        role: str,
        image: str,
        command: list[str],
        limits: Limits,
        **options: Any,
    ) -> Container:
        """``docker run -d --network host --pid host`` with the run's labels. The host's
        pid namespace: a worker registers under the pid the lab sees, as a local worker
        does, so the timeline can tell which registered worker it killed."""
        container: Container = self.client.containers.run(
            image,
            command,
            name=f"{NAME_PREFIX}-{self.run}-{name}",
            labels={RUN_LABEL: self.run, ROLE_LABEL: role, OWNER_LABEL: self._owner},
            detach=True,
            network_mode="host",
            pid_mode="host",
            cgroup_parent=self.cgroup_parent,
            **limits.options(),
            **options,
        )
        container.reload()  # State.Pid, HostConfig as applied
        return container

    def finish(self, container: Container, log_name: str) -> None:
        """Save its logs as ``logs/<log_name>.log``, then remove it."""
        save_logs(container, self.logs / f"{log_name}.log")
        remove(container)

    def listed(self) -> list[Container]:
        return of_run(self.client, self.run)
