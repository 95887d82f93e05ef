"""The local backend: a private Redis, the API and N workers as child processes on loopback.

Built from the system's own pieces (``RedisServer``, ``TaskqProcess``): each child has its
own process group and dies with us (PR_SET_PDEATHSIG), so a crashed lab leaves nothing
behind; ``stop()`` runs on success, failure and Ctrl-C. Children are spawned from the main
thread only, because the kernel sends the death signal when the forking *thread* exits.
Every process logs into ``<run>/logs/``. Each worker serves ``/metrics`` on its own port;
a Prometheus (``lab.backends.prometheus``) scrapes them when the scenario wants one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.backends import base
from lab.backends.base import (
    Affected,
    NetworkTarget,
    ScrapeTarget,
    Target,
    Which,
    pick,
)
from lab.backends.prometheus import LabPrometheus, wanted
from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyProcess
from lab.scenario.model import Scenario
from system.redis_server import RedisServer, free_port, generate_password
from system.supervisor import TaskqProcess
from system.worker.exposition import ENV as MULTIPROCESS_DIR

API_START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(eq=False)
class _Worker:
    name: str
    proc: TaskqProcess
    metrics_port: int
    paused: bool = False
    stopping: bool = False  # sent SIGTERM: finishing its tasks, no longer to be picked
    proxy: str = ""  # its Redis connection's proxy (network_faults), else ""
    started: float = field(default_factory=time.monotonic)


def system_env(scenario: Scenario) -> dict[str, str]:
    """The scenario's system settings as ``TASKQ_*`` variables for every child."""
    s = scenario.system
    env = {
        "TASKQ_QUEUE__LEASE_SECONDS": str(s.lease_seconds),
        "TASKQ_QUEUE__RESULT_TTL_SECONDS": str(s.result_ttl_seconds),
        # Every record must still be there when the run reads them all at the end.
        "TASKQ_QUEUE__MAX_FINISHED_RECORDS": "0",
        "TASKQ_QUEUE__RETRY_BACKOFF_SECONDS": str(s.retry_backoff_seconds),
        "TASKQ_WORKER__SHUTDOWN_TIMEOUT_SECONDS": str(s.shutdown_timeout_seconds),
        "TASKQ_WORKER__PROCESSES": str(s.processes),
    }
    if s.api_processes > 1:
        env["TASKQ_API__WORKERS"] = str(s.api_processes)
    if s.max_queue_depth is not None:
        env["TASKQ_API__MAX_QUEUE_DEPTH"] = str(s.max_queue_depth)
    return {**env, **s.env}


class LocalBackend:
    def __init__(self, scenario: Scenario, run_dir: Path) -> None:
        self.scenario = scenario
        self.logs = run_dir / "logs"
        self._env = system_env(scenario)
        self._imports = [a for m in scenario.system.imports for a in ("--import", m)]
        self._rng = random.Random(f"{scenario.seed}-events")
        self._data_dir: Path | None = None
        self._redis: RedisServer | None = None
        self._redis_paused = False
        self._api: TaskqProcess | None = None
        self._api_port = 0
        self._workers: list[_Worker] = []
        self._spawned = 0
        self._run_dir = run_dir
        self._prometheus: LabPrometheus | None = None
        # Each worker's prometheus_client multiprocess files: here rather than in /tmp,
        # where a SIGKILLed worker would leave them.
        self._metrics_dirs = run_dir / "worker-metrics"
        self._toxiproxy: ToxiproxyProcess | None = None
        self._proxies: ToxiproxyClient | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with_prometheus = wanted(self.scenario.system.prometheus)  # fails before starting
        try:
            self._start_redis()
            if self.scenario.system.network_faults:
                self._toxiproxy = ToxiproxyProcess(
                    seed=f"{self.scenario.seed}-network", log_path=self.logs / "toxiproxy.log"
                ).start()
                self._proxies = ToxiproxyClient(self._toxiproxy.url)
            self._api_port = free_port()
            args = [
                "--host",
                "127.0.0.1",
                "--port",
                str(self._api_port),
                "--log-level",
                "warning",
                *self._imports,
            ]
            api_redis = self._redis_url_for("redis-api")
            self._api = TaskqProcess(
                api_redis, args, env=self._env, log_path=self.logs / "api.log", command="api"
            )
            for _ in range(self.scenario.system.workers):
                self.spawn_worker()
            if with_prometheus:
                self._start_prometheus()
            self._wait_for_api()
        except BaseException:
            self.stop()
            raise

    def _start_redis(self) -> None:
        persistence = self.scenario.system.redis.persistence
        # In the run folder: its redis.log is kept, and a killed lab leaves nothing elsewhere.
        self._data_dir = self.logs.parent / "redis"
        self._redis = RedisServer(
            self._data_dir,
            appendonly=persistence != "none",
            appendfsync="always" if persistence == "aof-always" else "everysec",
            password=generate_password(),  # and private files: see RedisServer
        ).start()

    def _start_prometheus(self) -> None:
        self._prometheus = LabPrometheus(
            self._run_dir,
            f"127.0.0.1:{self._api_port}",
            self.scenario.report.metrics_interval_seconds,
        )
        self._publish_workers()
        self._prometheus.start([t.instance for t in self.scrape_targets()])

    def _publish_workers(self) -> None:
        """Prometheus's worker list follows every spawn and exit (file-based discovery)."""
        if self._prometheus is not None:
            self._prometheus.set_workers([f"127.0.0.1:{w.metrics_port}" for w in self._workers])

    def _wait_for_api(self) -> None:
        assert self._api is not None
        deadline = time.monotonic() + API_START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if not self._api.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {self.logs / 'api.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Everything down, in an order that lets workers hand tasks back: resume paused
        processes (a stopped process cannot act on SIGTERM), Prometheus (its data is read
        by then), workers, API, then Redis."""
        if self._prometheus is not None:
            self._prometheus.stop()
            self._prometheus = None
        self.resume("redis")
        self.resume("worker")
        for w in self._workers:
            w.proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for w in self._workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
        self._workers.clear()
        if self._api is not None:
            self._api.stop(STOP_TIMEOUT_SECONDS)
            self._api = None
        if self._proxies is not None:
            self._proxies.close()
            self._proxies = None
        if self._toxiproxy is not None:
            self._toxiproxy.stop()
            self._toxiproxy = None
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._data_dir is not None:
            # The log joins the others; the data (AOF) is of no use after the run.
            log = self._data_dir / "redis.log"
            if log.exists():
                shutil.move(log, self.logs / "redis.log")
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        shutil.rmtree(self._metrics_dirs, ignore_errors=True)

    # ---- addresses -------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        assert self._redis is not None, "backend not started"
        return self._redis.url

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._api_port}"

    @property
    def prometheus_url(self) -> str | None:
        return None if self._prometheus is None else self._prometheus.url

    def scrape_targets(self) -> list[ScrapeTarget]:
        ports = [w.metrics_port for w in self._workers if w.proc.alive() and not w.paused]
        return base.scrape_targets(self.api_url, ports)

    def redis_version(self) -> str:
        return base.redis_version(self.redis_url)

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc.alive()]

    def processes(self) -> dict[str, int]:
        """The system's live processes by name, for resource accounting."""
        named = {w.name: w.proc.pid for w in self._workers if w.proc.alive()}
        if self._api is not None and self._api.alive():
            named["api"] = self._api.pid
        if self._redis is not None and self._redis.pid:
            named["redis"] = self._redis.pid
        return named

    def environment(self) -> dict[str, Any]:
        return {"name": "local"}

    # ---- operations ------------------------------------------------------------------

    def _redis_url_for(self, proxy: str) -> str:
        """Redis as one process sees it: through its own proxy when network faults are on."""
        if self._proxies is None:
            return self.redis_url
        assert self._redis is not None
        listen = self._proxies.create_proxy(proxy, f"127.0.0.1:{self._redis.port}")["listen"]
        return self.redis_url.replace(f"127.0.0.1:{self._redis.port}", listen, 1)

    def spawn_worker(self) -> Affected:
        self._spawned += 1
        name = f"worker-{self._spawned}"
        port = free_port()
        args = [
            "-c",
            str(self.scenario.system.concurrency),
            "--log-level",
            "warning",
            "--metrics-port",
            str(port),
            *self._imports,
        ]
        env = {**self._env, MULTIPROCESS_DIR: str(self._metrics_dirs / name)}
        proxy = f"redis-{name}" if self._proxies is not None else ""
        redis_url = self._redis_url_for(proxy) if proxy else self.redis_url
        proc = TaskqProcess(redis_url, args, env=env, log_path=self.logs / f"{name}.log")
        self._workers.append(_Worker(name, proc, port, proxy=proxy))
        self._publish_workers()
        return Affected(name, proc.pid)

    @property
    def toxiproxy_url(self) -> str | None:
        return self._toxiproxy.url if self._toxiproxy is not None else None

    def network_proxies(self, target: NetworkTarget, which: Which) -> list[tuple[Affected, str]]:
        if self._proxies is None:
            return []
        if target == "api":
            assert self._api is not None
            return [(Affected("api", self._api.pid), "redis-api")]
        if target == "workers":
            live = [w for w in self._workers if w.proc.alive()]
        else:
            one = self._pick(which)
            live = [one] if one is not None else []
        return [(Affected(w.name, w.proc.pid), w.proxy) for w in live]

    def _pick(self, which: Which, *, paused: bool | None = None) -> _Worker | None:
        # A stopping worker is left out: a scale-down by two must stop two workers, not
        # send the newest a second SIGTERM (which tells a worker to stop at once).
        live = [w for w in self._workers if w.proc.alive() and not w.stopping]
        if paused is not None:
            live = [w for w in live if w.paused == paused]
        return pick(live, which, self._rng, self.redis_url, lambda w: w.proc.pid)

    def signal_worker(self, which: Which, signum: int) -> Affected | None:
        w = self._pick(which)
        if w is None:
            return None
        if w.paused and signum != signal.SIGKILL:
            w.proc.signal(signal.SIGCONT)  # let it see the SIGTERM
            w.paused = False
        w.proc.signal(signum)
        w.stopping = signum == signal.SIGTERM
        return Affected(w.name, w.proc.pid)

    def worker_exited(self, pid: int) -> bool:
        for w in self._workers:
            if w.proc.pid == pid and not w.proc.alive():
                w.proc.wait(0)  # reaps it and closes its log
                self._workers.remove(w)
                self._publish_workers()
                return True
        return not any(w.proc.pid == pid for w in self._workers)

    def pause(self, target: Target, which: Which) -> Affected | None:
        if target == "redis":
            assert self._redis is not None
            os.kill(self._redis.pid, signal.SIGSTOP)
            self._redis_paused = True
            return Affected("redis", self._redis.pid)
        w = self._pick(which, paused=False)
        if w is None:
            return None
        w.proc.signal(signal.SIGSTOP)
        w.paused = True
        return Affected(w.name, w.proc.pid)

    def resume(self, target: Target) -> list[Affected]:
        if target == "redis":
            if not self._redis_paused or self._redis is None:
                return []
            if self._redis.running:
                os.kill(self._redis.pid, signal.SIGCONT)
            self._redis_paused = False
            return [Affected("redis", self._redis.pid)]
        out = []
        for w in self._workers:
            if w.paused:
                w.proc.signal(signal.SIGCONT)
                w.paused = False
                out.append(Affected(w.name, w.proc.pid))
        return out

    def restart_redis(self, crash: bool) -> Affected:
        """Same port, same data dir: with AOF, the data comes back."""
        assert self._redis is not None
        self.resume("redis")
        if crash:
            self._redis.kill()
            self._redis.start()
        else:
            self._redis.restart()
        return Affected("redis", self._redis.pid)
