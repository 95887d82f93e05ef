"""Docker fixtures: the engine at ``$DOCKER_HOST`` and the lab's images, built once per
session (cached by content, so a session after the first finds them in seconds).

No engine: the tests skip and say how to start one; under CI=true they fail instead
(``.ci/run`` starts a private engine). Every container a test starts carries the label
``org.taskq.test=<uuid>`` and is removed by the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import docker
import docker.models.containers
import pytest

from lab.backends.docker.debian import PrerequisiteError
from lab.backends.docker.engine import EngineError, connect
from lab.backends.docker.images import BuiltImage, ensure_base_image, ensure_project_image

TEST_LABEL = "org.taskq.test"
# A cold build is debootstrap (~2 min with Prometheus), the wheelhouse and the image build;
# it happens in whichever test asks for the images first, on a 2-core machine that may be
# running other suites.
BUILD_TIMEOUT_SECONDS = 900


def missing(reason: str) -> NoReturn:
    """Skip; under CI=true (CI installs docker.io and debootstrap and starts an engine) fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect(timeout_seconds=BUILD_TIMEOUT_SECONDS)
    except EngineError as exc:
        missing(str(exc))
    yield client
    client.close()


@dataclass(frozen=True)
class LabImages:
    base: BuiltImage
    project: BuiltImage


@pytest.fixture(scope="session")
def lab_images(docker_client: docker.DockerClient) -> LabImages:
    try:
        base = ensure_base_image(docker_client)
        return LabImages(base, ensure_project_image(docker_client, base=base))
    except PrerequisiteError as exc:
        missing(str(exc))


class Containers:
    """Starts labelled containers for one test; ``remove_all()`` removes them."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.label = f"{TEST_LABEL}={uuid.uuid4().hex}"

    def start(self, image: str, command: list[str], **options: Any
              ) -> docker.models.containers.Container:  # fmt: skip
        key, value = self.label.split("=")
        return self.client.containers.run(
            image, command, detach=True, labels={key: value}, **options
        )

    def run(self, image: str, command: list[str]) -> tuple[int, str]:
        """Run to the end; (exit code, output)."""
        container = self.start(image, command, network_mode="none")
        code = int(container.wait(timeout=120)["StatusCode"])
        return code, container.logs().decode(errors="replace")

    def listed(self) -> list[docker.models.containers.Container]:
        """``docker ps -a --filter label=...``"""
        return self.client.containers.list(all=True, filters={"label": self.label})

    def remove_all(self) -> None:
        for container in self.listed():
            container.remove(force=True)


@pytest.fixture
def containers(docker_client: docker.DockerClient) -> Iterator[Containers]:
    made = Containers(docker_client)
    try:
        yield made
    finally:
        made.remove_all()
