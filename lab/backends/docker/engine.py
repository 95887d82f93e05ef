"""A private Docker engine: its own ``dockerd`` with its own data, state and socket.

For the tests, ``.ci/run`` and a developer on a machine with no engine running::

    eval "$(python -m lab.backends.docker.engine start)"   # prints: export DOCKER_HOST=...
    python -m lab.backends.docker.engine env               # the same line, once it runs
    python -m lab.backends.docker.engine stop              # images stay; --remove-data: not

Host networking only (``--bridge=none --iptables=false --ip6tables=false``): the engine
creates no bridge, writes no firewall rule, and its containers share the host's network,
so they talk over loopback like the local backend's processes. Everything lives under one
directory (default ``$TASKQ_DOCKER_DIR``, else ``/var/tmp/taskq-docker``, which survives
a reboot so the image cache does): ``data/`` (images, containers: dockerd's
``--data-root``), ``exec/`` (its ``--exec-root``, with the containerd it starts),
``docker.sock``, ``docker.pid``, ``dockerd.log`` and an empty ``daemon.json``, so the
machine's ``/etc/docker/daemon.json`` plays no part.

The daemon is detached (its own session): it outlives the command that started it, until
``stop``. Stopping sends SIGTERM (dockerd stops its containers, then its containerd) and
waits; it removes no file unless asked to. Needs root, as dockerd does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import click
import docker
import docker.errors
import requests

DIR_ENV = "TASKQ_DOCKER_DIR"
DEFAULT_DIR = Path("/var/tmp/taskq-docker")
DEFAULT_HOST = "unix:///var/run/docker.sock"  # the SDK's and the docker CLI's default
START_TIMEOUT_SECONDS = 60.0
# dockerd gives each running container 15 s (its --shutdown-timeout) to stop on SIGTERM.
STOP_TIMEOUT_SECONDS = 45.0
PING_TIMEOUT_SECONDS = 3.0
# A unix socket path is at most 107 bytes; containerd's sits three levels below exec/.
MAX_DIR_CHARS = 60


class EngineError(RuntimeError):
    """The engine could not be started, reached or stopped (the message says why)."""


def default_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


def _client(host: str | None, timeout_seconds: float) -> docker.DockerClient:
    """A client of ``host``, else of what ``$DOCKER_HOST`` (and the TLS variables) say."""
    timeout = max(1, int(timeout_seconds))
    if host:
        return docker.DockerClient(base_url=host, timeout=timeout)
    return docker.from_env(timeout=timeout)


def _accepts(host: str | None) -> bool:
    """For a unix socket: whether it accepts a connection. Checked before the SDK tries,
    because the SDK does not close its socket when the connection is refused."""
    url = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    if not url.startswith("unix://"):
        return True  # tcp, ssh: left to the client
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(url.removeprefix("unix://"))
        except OSError:
            return False
    return True


def answers(host: str | None = None, timeout_seconds: float = PING_TIMEOUT_SECONDS) -> bool:
    """Whether an engine answers a ping at ``host`` (None: ``$DOCKER_HOST``, else the
    default socket, as the docker command line would pick)."""
    if not _accepts(host):
        return False
    try:
        client = _client(host, timeout_seconds)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, requests.RequestException):
        return False
    finally:
        client.close()


def connect(timeout_seconds: float = 600.0) -> docker.DockerClient:
    """A client of the engine at ``$DOCKER_HOST`` (else the default socket), which
    answers; ``timeout_seconds`` bounds each request (an import or a build is one)."""
    if not answers():
        where = os.environ.get("DOCKER_HOST") or f"{DEFAULT_HOST} (DOCKER_HOST is unset)"
        raise EngineError(
            f"no Docker engine answers at {where}; start a private one with:"
            ' eval "$(python -m lab.backends.docker.engine start)"'
        )
    return _client(None, timeout_seconds)


def mounts_under(path: Path) -> list[str]:
    """Mount points below ``path`` (a tree to delete must have none: rmtree would reach
    into whatever is mounted there)."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    return [p for p in points if p.startswith(prefix)]


def _running(pid: int, program: bytes = b"") -> bool:
    """``pid`` exists, is no zombie, and runs a program whose path ends with ``program``
    (a stale pid file may name a pid the kernel has since given to another process)."""
    try:
        path = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and path.endswith(program)


class PrivateEngine:
    """One private ``dockerd`` under ``state_dir``: ``start()``, ``host``, ``stop()``."""

    def __init__(self, state_dir: Path | None = None, *, binary: str = "dockerd") -> None:
        self.dir = Path(state_dir or default_dir()).absolute()
        if len(str(self.dir)) > MAX_DIR_CHARS:
            raise EngineError(
                f"{self.dir}: keep the engine directory under {MAX_DIR_CHARS} characters"
                " (unix socket paths below it are limited to 107)"
            )
        self.binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` of this engine."""
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "dockerd.log"

    @property
    def pid_path(self) -> Path:
        return self.dir / "docker.pid"

    def pid(self) -> int | None:
        """The pid of this directory's running dockerd, if one runs."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _running(pid, b"dockerd") else None

    @property
    def running(self) -> bool:
        return self.pid() is not None

    def command(self) -> list[str]:
        exec_root = self.dir / "exec"
        return [
            self.binary,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            f"--data-root={self.data_root}",
            f"--exec-root={exec_root}",
            f"--host={self.host}",
            f"--pidfile={self.pid_path}",
            f"--config-file={self.dir / 'daemon.json'}",
        ]

    def start(self, timeout_seconds: float = START_TIMEOUT_SECONDS) -> Self:
        """Start (or find already running) and wait until it answers a ping."""
        if self.running:
            self._wait_answer(timeout_seconds)
            return self
        if os.geteuid() != 0:
            raise EngineError("dockerd needs root: run as root (or use an engine you have)")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "daemon.json").write_text("{}\n")
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives us, ignores our terminal's Ctrl-C
                )
            except FileNotFoundError:
                raise EngineError(f"{self.binary} not found (Debian package docker.io)") from None
        try:
            self._wait_answer(timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_answer(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EngineError(
                    f"dockerd exited with {self._proc.returncode}; {self._log_tail()}"
                )
            if self.socket.exists() and answers(self.host, timeout_seconds=1.0):
                return
            time.sleep(0.1)
        raise EngineError(f"dockerd gave no answer in {timeout_seconds} s; {self._log_tail()}")

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "no log"
        return f"{self.log_path}:\n" + "\n".join(tail)

    def stop(self, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> bool:
        """SIGTERM the daemon and wait until it has gone (SIGKILL after the timeout).
        True if one was running. Removes no file: see ``remove_data``."""
        pid = self.pid()
        if pid is None and self._proc is not None and self._proc.poll() is None:
            pid = self._proc.pid  # started, pid file not written yet
        if pid is None:
            self._unmount_run_state()  # left by an earlier daemon of this directory
            return False
        containerd = self._containerd_pid()
        for sig, wait in ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if self._gone(pid, wait):
                break
        else:
            raise EngineError(f"dockerd {pid} did not exit after SIGKILL")
        # dockerd stops the containerd it started; after a SIGKILL that is ours to do.
        if containerd is not None and not self._gone(containerd, 10.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(containerd, signal.SIGKILL)
        self._proc = None
        self._unmount_run_state()
        return True

    def _unmount_run_state(self) -> None:
        """What dockerd leaves mounted in its exec root once it has exited: the bind mount
        of the host's network namespace (``exec/netns/default``) that host-network
        containers use. Run state of a daemon that no longer runs, so ours to unmount."""
        for mount in sorted(mounts_under(self.dir / "exec"), reverse=True):
            subprocess.run(["umount", mount], capture_output=True, stdin=subprocess.DEVNULL)

    def _gone(self, pid: int, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(0.1)
                    return True
            elif not _running(pid):
                return True
            else:
                time.sleep(0.1)
        return False

    def _containerd_pid(self) -> int | None:
        path = self.dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _running(pid, b"containerd") else None

    def remove_data(self) -> None:
        """Delete the whole directory (images included); only when stopped."""
        if self.running:
            raise EngineError("stop the engine before removing its data")
        if mounted := mounts_under(self.dir):
            raise EngineError(f"{self.dir} still has mounts, left in place: {mounted}")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---- command line: python -m lab.backends.docker.engine start|stop|env|status ----------

dir_option = click.option(
    "--dir",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"The engine's directory [default: ${DIR_ENV}, else {DEFAULT_DIR}].",
)


def _export(engine: PrivateEngine) -> None:
    click.echo(f"export DOCKER_HOST={engine.host}")


@click.group()
def main() -> None:
    """A private dockerd (host networking only) for the lab's docker images and tests."""


@main.command()
@dir_option
@click.option("--timeout", "timeout_seconds", type=float, default=START_TIMEOUT_SECONDS,
              show_default=True, help="Seconds to wait for an answer.")  # fmt: skip
def start(state_dir: Path | None, timeout_seconds: float) -> None:
    """Start it (or find it running); print the DOCKER_HOST line to eval."""
    try:
        engine = PrivateEngine(state_dir).start(timeout_seconds)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"dockerd {engine.pid()} answers at {engine.host}", err=True)
    _export(engine)


@main.command()
@dir_option
@click.option("--remove-data", is_flag=True, help="Also delete the directory, images included.")
def stop(state_dir: Path | None, remove_data: bool) -> None:
    """Stop it (its containers stop with it). Images stay unless --remove-data."""
    engine = PrivateEngine(state_dir)
    try:
        stopped = engine.stop()
        if remove_data:
            engine.remove_data()
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'stopped' if stopped else 'not running'}: {engine.dir}", err=True)


@main.command()
@dir_option
def env(state_dir: Path | None) -> None:
    """Print the DOCKER_HOST line of the running engine (exit 1 if it does not run)."""
    engine = PrivateEngine(state_dir)
    if not engine.running:
        raise click.ClickException(f"no engine runs in {engine.dir}")
    _export(engine)


@main.command()
@click.option("--host", default=None, help="Default: $DOCKER_HOST, else the default socket.")
def ping(host: str | None) -> None:
    """Exit 0 if an engine answers (at --host, else where the docker CLI would look)."""
    sys.exit(0 if answers(host) else 1)


if __name__ == "__main__":
    main()
