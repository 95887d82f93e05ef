"""The images, built in a real engine: cached by content, and holding what they should."""

from __future__ import annotations

import time

import docker
import pytest
from click.testing import CliRunner

from lab.backends.docker.cli import images as images_cli
from lab.backends.docker.debian import recipe
from lab.backends.docker.images import (
    HASH_LABEL,
    KIND_LABEL,
    ImageError,
    base_tag,
    ensure_base_image,
    ensure_project_image,
    image_for_run,
    list_images,
)
from tests.lab.docker.conftest import BUILD_TIMEOUT_SECONDS, Containers, LabImages

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT_SECONDS)]
CACHED_SECONDS = 10.0  # a hash of the sources and one inspect: about a second


def test_base_image_is_built_once_then_found_by_content(
    docker_client: docker.DockerClient, lab_images: LabImages
) -> None:
    first = ensure_base_image(docker_client)
    started = time.monotonic()
    second = ensure_base_image(docker_client)
    elapsed = time.monotonic() - started
    assert second.cached and second.id == first.id == lab_images.base.id
    assert elapsed < CACHED_SECONDS, f"a cached base took {elapsed:.1f} s"
    spec = recipe()
    assert second.tag == base_tag(spec)
    labels = docker_client.images.get(second.tag).labels
    assert labels == {KIND_LABEL: "base", HASH_LABEL: spec.content_hash}
    if not lab_images.base.cached:  # this session built it: each step was timed
        assert [s.name for s in lab_images.base.steps] == ["debootstrap", "import"]


def test_project_image_is_found_by_content(
    docker_client: docker.DockerClient, lab_images: LabImages
) -> None:
    started = time.monotonic()
    again = ensure_project_image(docker_client, base=lab_images.base)
    elapsed = time.monotonic() - started
    assert again.cached and again.id == lab_images.project.id
    assert elapsed < CACHED_SECONDS, f"a cached project image took {elapsed:.1f} s"
    assert docker_client.images.get(again.tag).labels[KIND_LABEL] == "project"
    listed = {tag for info in list_images(docker_client) for tag in info.tags}
    assert {lab_images.base.tag, again.tag} <= listed


def test_project_image_runs_taskq_with_the_images_python(
    lab_images: LabImages, containers: Containers
) -> None:
    code, out = containers.run(lab_images.project.tag, ["taskq", "--help"])
    assert code == 0, out
    assert "Usage: taskq" in out and "worker" in out
    check = (
        "import importlib.util, sys, system, redis, async_timeout;"
        "print(sys.executable, sys.version.split()[0], system.__file__);"
        "print('lab deps:', [m for m in ('pandas', 'matplotlib', 'docker')"
        " if importlib.util.find_spec(m)])"
    )
    code, out = containers.run(lab_images.project.tag, ["python", "-c", check])
    assert code == 0, out
    executable, version, path = out.splitlines()[0].split()
    assert executable == "/opt/taskq/bin/python"
    assert version.startswith("3.11.")  # Debian bookworm's
    assert path.startswith("/opt/taskq/lib/python3.11/site-packages/system/")
    assert out.splitlines()[1] == "lab deps: []"  # the production system only
    code, out = containers.run(
        lab_images.project.tag, ["sh", "-c", "id -un; redis-server --version; prometheus --version"]
    )
    assert code == 0, out
    assert out.startswith("taskq\nRedis server v=7.")
    assert "prometheus, version 2." in out
    containers.remove_all()
    assert containers.listed() == []


def test_a_given_image_is_used_as_is(
    docker_client: docker.DockerClient, lab_images: LabImages
) -> None:
    given = image_for_run(docker_client, lab_images.project.tag)
    assert (given.kind, given.id, given.steps) == ("given", lab_images.project.id, ())
    with pytest.raises(ImageError, match="not in the engine"):
        image_for_run(docker_client, "taskq-absent:nothing")


def test_images_command_finds_both_cached(lab_images: LabImages) -> None:
    built = CliRunner().invoke(images_cli, ["build"])
    assert built.exit_code == 0, built.output
    assert f"base: {lab_images.base.tag} (cached" in built.output
    assert f"project: {lab_images.project.tag} (cached" in built.output
    listed = CliRunner().invoke(images_cli, ["list"])
    assert listed.exit_code == 0, listed.output
    assert lab_images.base.tag in listed.output and lab_images.project.tag in listed.output
