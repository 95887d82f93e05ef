"""What environment.json records of a docker run (its ``backend`` block): the engine,
the image of each role, and the limits the engine enforces on each role."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors
import requests

from lab.backends.docker.images import BuiltImage

Applied = Mapping[str, Mapping[str, float | int | None]]


def engine_facts(client: docker.DockerClient, cgroup_parent: str | None) -> dict[str, Any]:
    version: dict[str, Any] = {}
    info: dict[str, Any] = {}
    with contextlib.suppress(docker.errors.APIError, requests.RequestException):
        version, info = client.version(), client.info()
    return {
        "version": version.get("Version"),
        "api_version": version.get("ApiVersion"),
        "kernel": version.get("KernelVersion"),
        "os": version.get("Os"),
        # Where the containers compete for CPU (docs/docker.md, threats to validity).
        "cgroup_version": info.get("CgroupVersion"),
        "cgroup_driver": info.get("CgroupDriver"),
        "cgroup_parent": cgroup_parent,
        "cpus": info.get("NCPU"),
        "docker_host": os.environ.get("DOCKER_HOST", "default socket"),
    }


def backend_manifest(
    client: docker.DockerClient | None,
    cgroup_parent: str | None,
    images: Mapping[str, BuiltImage],
    applied: Applied,
) -> dict[str, Any]:
    """``applied``: per role, the limits read back from its first container."""
    return {
        "name": "docker",
        "engine": engine_facts(client, cgroup_parent) if client is not None else {},
        # The host's load when the run started: other work competes with the quotas.
        "host_load_average_1m": round(os.getloadavg()[0], 2),
        "images": {
            role: {"tag": image.tag, "id": image.id, "kind": image.kind}
            for role, image in images.items()
        },
        "limits": {role: dict(limits) for role, limits in applied.items()},
    }
