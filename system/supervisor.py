"""Starts and stops the processes of a local deployment: an embedded Redis (unless a URL
is given) and worker processes. Used by ``taskq up``, ``taskq demo``, the tests and the lab.
Every child is stopped on exit, normal or not, so no process outlives its supervisor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

from system.autoscaler import Autoscaler, QueueWatch
from system.client import Client
from system.config import AutoscaleSettings
from system.core import ops
from system.redis_server import RedisServer, die_with_parent, generate_password

log = logging.getLogger("taskq.supervisor")

EMBEDDED_DATA_DIR = Path(".taskq") / "redis"
REDIS_URL_ENV = "TASKQ_REDIS_URL"
URL_FILE = "url"  # in the embedded Redis's data dir, 0600: its URL with the password
AUTOSCALER_LEASE_MIN_SECONDS = 2.0  # the lease is 3 decision intervals, at least this


class TaskqProcess:
    """One ``taskq <command>`` child process (a worker, or the API)."""

    def __init__(
        self,
        redis_url: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        *,
        command: str = "worker",
    ) -> None:
        # The URL (and its password) goes through the environment: a command line is
        # readable by every local user (/proc/<pid>/cmdline), a process's environment not.
        cmd = [sys.executable, "-m", "system", command, *args]
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115 (closed in wait)
        parent = os.getpid()
        on_main = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {}), REDIS_URL_ENV: redis_url},
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else None,
            # Own process group: a terminal's Ctrl-C reaches only the supervisor, which
            # then sends each child exactly one SIGTERM (a second one tells a worker "stop
            # now"). If the supervisor dies, the kernel sends the child SIGTERM.
            process_group=0,
            preexec_fn=(lambda: die_with_parent(parent)) if on_main else None,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout_seconds: float = 30.0) -> int:
        """SIGTERM (graceful), then SIGKILL if it has not exited in time."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def wait(self, timeout_seconds: float | None = None) -> int:
        code = self.proc.wait(timeout_seconds)
        if self._log:
            self._log.close()
        return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends `wait()` like Ctrl-C does


class Stack:
    """Redis + N workers. ``redis_url=None`` starts an embedded Redis in ``data_dir``."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        workers: int = 1,
        concurrency: int | None = None,
        data_dir: Path | None = None,
        worker_args: Sequence[str] = (),
        worker_env: dict[str, str] | None = None,
        api_port: int | None = None,
        api_host: str = "127.0.0.1",
        api_workers: int | None = None,
        autoscale: AutoscaleSettings | None = None,
        queue: str = "default",
    ) -> None:
        self._given_url = redis_url
        self._data_dir = data_dir if data_dir is not None else EMBEDDED_DATA_DIR
        self._n = workers
        self._worker_args = [*worker_args, *(["-c", str(concurrency)] if concurrency else [])]
        self._worker_env = worker_env
        self.redis: RedisServer | None = None
        self.workers: list[TaskqProcess] = []
        self._api_at = (api_host, api_port) if api_port is not None else None
        self._api_workers = api_workers  # None: TASKQ_API__WORKERS, else 1
        self.api: TaskqProcess | None = None
        # Autoscaling: the policy's decisions for one queue, applied from wait().
        self._autoscaler = Autoscaler(autoscale) if autoscale else None
        self._autoscale_leads: bool | None = None  # unknown until the first decision
        self._queue = queue
        self._retiring: list[TaskqProcess] = []  # sent SIGTERM by a scale-down
        self._started = False

    @property
    def api_url(self) -> str | None:
        return f"http://{self._api_at[0]}:{self._api_at[1]}" if self._api_at else None

    @property
    def redis_url(self) -> str:
        if self._given_url:
            return self._given_url
        assert self.redis is not None, "stack not started"
        return self.redis.url

    def start(self) -> Stack:
        try:
            if not self._given_url:
                self._data_dir.mkdir(parents=True, exist_ok=True)
                self.redis = RedisServer(
                    self._data_dir, appendonly=True, password=generate_password()
                ).start()
                self._write_url_file()
            for _ in range(self._n):
                self.add_worker()
            if self._api_at:
                host, port = self._api_at
                args = ["--host", host, "--port", str(port)]
                if self._api_workers is not None:
                    args += ["--workers", str(self._api_workers)]
                self.api = TaskqProcess(self.redis_url, args, command="api")
                self._wait_for_api()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    @property
    def url_file(self) -> Path | None:
        """Where the embedded Redis's URL is kept for other commands (None: a given URL)."""
        return self._data_dir / URL_FILE if self.redis is not None else None

    def _write_url_file(self) -> None:
        assert self.url_file is not None
        fd = os.open(self.url_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w") as f:
            f.write(self.redis_url + "\n")

    def _wait_for_api(self, timeout_seconds: float = 20.0) -> None:
        assert self.api is not None
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{self.api_url}/healthz", timeout=1):
                    return
            except OSError:
                if not self.api.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start on {self.api_url}") from None
                time.sleep(0.05)

    def add_worker(self) -> TaskqProcess:
        w = TaskqProcess(self.redis_url, self._worker_args, env=self._worker_env)
        self.workers.append(w)
        return w

    def wait(self) -> None:
        """Block until Ctrl-C / SIGTERM (or every worker has exited, when not autoscaling);
        autoscale meanwhile."""
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            if self._autoscaler is not None:
                self._autoscale_until_interrupted(self._autoscaler)
            while any(w.alive() for w in self.workers):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    def scale_to(self, n: int) -> None:
        """Start workers, or SIGTERM the newest ones (they finish what they hold)."""
        self.workers = [w for w in self.workers if w.alive()]
        while len(self.workers) < n:
            self.add_worker()
        while len(self.workers) > n:
            w = self.workers.pop()
            w.signal(signal.SIGTERM)
            self._retiring.append(w)

    def _autoscale_until_interrupted(self, autoscaler: Autoscaler) -> None:
        """Decide and scale every interval while this supervisor holds the queue's
        autoscaler lease: with several ``taskq up --autoscale`` on one queue, one decides
        at a time and the others keep their workers as they are."""
        interval = autoscaler.policy.interval_seconds
        lease_ms = int(max(AUTOSCALER_LEASE_MIN_SECONDS, 3 * interval) * 1000)
        candidate = f"supervisor-{socket.gethostname()}-{os.getpid()}"
        with Client(self.redis_url) as client:
            watch = QueueWatch(client, self._queue)
            try:
                while True:
                    try:
                        self._autoscale_once(client, watch, autoscaler, candidate, lease_ms)
                    except redis.RedisError as exc:  # Redis away: keep the workers as they are
                        log.warning("autoscale: cannot read %s (%s)", self._queue, exc)
                    time.sleep(interval)
            finally:
                with contextlib.suppress(redis.RedisError):
                    client.run(ops.lead(self._queue, candidate, 0, duty="autoscaler"))

    def _autoscale_once(
        self,
        client: Client,
        watch: QueueWatch,
        autoscaler: Autoscaler,
        candidate: str,
        lease_ms: int,
    ) -> None:
        self._retiring = [w for w in self._retiring if w.alive()]
        leads = bool(client.run(ops.lead(self._queue, candidate, lease_ms, duty="autoscaler")))
        if leads != self._autoscale_leads:
            self._autoscale_leads = leads
            who = "this supervisor" if leads else "another supervisor"
            log.info("autoscale %s: %s decides", self._queue, who)
        if not leads:
            return
        current = len([w for w in self.workers if w.alive()])
        wanted = autoscaler.decide(watch.observe(), current, time.monotonic())
        if wanted != current:
            log.info("autoscale %s: %d -> %d workers", self._queue, current, wanted)
            self.scale_to(wanted)

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """SIGTERM every worker at once (one signal: a second would mean "stop now"), wait
        for each within the timeout, SIGKILL stragglers; then stop the embedded Redis."""
        if self.api:
            self.api.stop(timeout_seconds)
            self.api = None
        for w in self.workers:
            w.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        for w in self.workers:
            try:
                w.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
        self.workers.clear()
        for w in self._retiring:
            try:
                w.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
        self._retiring.clear()
        self._started = False
        if self.redis:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        return self if self._started else self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
