"""A private engine of its own (not the session's): started by the command line, it
answers at the DOCKER_HOST it prints and runs a host-network container; stopped, it is
gone, nothing stays mounted, and its files stay until --remove-data."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from lab.backends.docker.engine import PrivateEngine, answers, mounts_under
from tests.lab.docker.conftest import missing

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def engine_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.backends.docker.engine", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def alive(pid: int) -> bool:
    """Running (an exited daemon is a zombie until init, its parent now, reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def engine_dir() -> Iterator[Path]:
    if shutil.which("dockerd") is None:
        missing("dockerd not on PATH (Debian package docker.io)")
    if os.geteuid() != 0:
        missing("a private dockerd needs root")
    # Short: containerd's sockets sit three levels below (unix socket paths <= 107 bytes).
    path = Path(tempfile.mkdtemp(prefix="tq-engine-", dir="/tmp"))
    try:
        yield path
    finally:
        PrivateEngine(path).stop()  # a no-op unless the test failed half-way
        shutil.rmtree(path, ignore_errors=True)


def run_on_host_network(host: str) -> None:
    """A container on the host's network, from a one-file image: the static tini that
    docker.io ships as docker-init (no base image needed)."""
    tini = shutil.which("docker-init")
    if tini is None:
        missing("docker-init not on PATH (Debian package docker.io, with tini)")
    image = io.BytesIO()
    with tarfile.open(fileobj=image, mode="w") as tar:
        tar.add(Path(tini).resolve(), arcname="tini")
    client = docker.DockerClient(base_url=host, timeout=60)
    try:
        client.api.import_image_from_data(image.getvalue(), repository="tini", tag="test")
        out = client.containers.run(
            "tini:test", ["/tini", "--version"], network_mode="host", remove=True
        )
        assert b"tini version" in out
    finally:
        client.close()


def test_private_engine_starts_answers_and_stops(engine_dir: Path) -> None:
    started = engine_command("start", "--dir", str(engine_dir))
    assert started.returncode == 0, started.stderr
    engine = PrivateEngine(engine_dir)
    assert started.stdout == f"export DOCKER_HOST=unix://{engine_dir}/docker.sock\n"
    assert answers(engine.host)
    pid = engine.pid()
    assert pid is not None
    # Another start finds it running; env prints the same line.
    again = engine_command("start", "--dir", str(engine_dir))
    assert (again.returncode, again.stdout, engine.pid()) == (0, started.stdout, pid)
    assert engine_command("env", "--dir", str(engine_dir)).stdout == started.stdout
    run_on_host_network(engine.host)
    assert mounts_under(engine_dir / "exec")  # the daemon's view of the host's network

    stopped = engine_command("stop", "--dir", str(engine_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid)
    assert not engine.running and not answers(engine.host)
    assert engine.data_root.is_dir() and engine.log_path.is_file()  # nothing removed
    assert engine_command("env", "--dir", str(engine_dir)).returncode == 1
    assert mounts_under(engine_dir) == []  # so the directory can be deleted

    engine_command("stop", "--dir", str(engine_dir), "--remove-data")
    assert not engine_dir.exists()
