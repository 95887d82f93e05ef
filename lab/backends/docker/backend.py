"""The docker backend (``system.backend: docker``): Redis, the API, N workers and
Prometheus as containers of one image, each with the CPU and memory limits of
``system.docker``.

The same ``Backend`` protocol as the local backend, so events, checks, collection and
reports do not change. Containers use the host's network (loopback, free ports chosen as
the local backend chooses them) and the host's pid namespace (a worker registers under
the pid the lab sees). Events act through the engine: a kill is ``container.kill(sig)``,
a pause the cgroup freezer (``container.pause()``), scaling creates and removes
containers, a Redis restart kills or stops its container and starts it again on the same
port and AOF directory (the run's ``redis/`` folder, bind-mounted). Network faults go
through the lab's Toxiproxy-compatible proxy, a process on the host as with the local
backend (the image holds the system, not the lab). Every container is removed in
``stop()``, its output saved as ``logs/<role>.log``; ``lab clean`` removes what a killed
lab left behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import requests

from lab.backends import base
from lab.backends.base import Affected, NetworkTarget, ScrapeTarget, Target, Which, pick
from lab.backends.docker.containers import (
    Container,
    Limits,
    RunContainers,
    applied_limits,
    run_id,
    save_logs,
)
from lab.backends.docker.engine import connect
from lab.backends.docker.images import BuiltImage, image_for_run
from lab.backends.docker.manifest import backend_manifest
from lab.backends.docker.prometheus import ContainerPrometheus
from lab.backends.docker.redis_container import ContainerRedis
from lab.backends.local import system_env
from lab.backends.prometheus import LabPrometheus, PrometheusProcess
from lab.faults.dependency import URL_VARIABLE as DEPENDENCY_URL
from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyProcess
from lab.scenario.model import DockerConfig, Scenario
from system.client import Client
from system.redis_server import free_port, private_url

# A container at a fraction of a CPU imports the system slowly: a worker at 0.15 CPU
# takes seconds to register, several at once on a loaded host longer still.
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10


@dataclass(eq=False)
class _Worker:
    name: str
    container: Container
    pid: int  # in the host's pid namespace, which the container shares
    metrics_port: int
    paused: bool = False
    stopping: bool = False  # sent SIGTERM: finishing its tasks, no longer to be picked
    proxy: str = ""  # its Redis connection's proxy (network_faults), else ""


def _alive(pid: int) -> bool:
    """The process runs (a frozen one too). Read from /proc: the engine is on this host
    (host networking), and asking the engine would block the lab's loop for each worker."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _limits(docker_config: DockerConfig, role: str) -> Limits:
    return Limits(
        getattr(docker_config, f"{role}_cpus"), getattr(docker_config, f"{role}_memory_mb")
    )


class DockerBackend:
    def __init__(self, scenario: Scenario, run_dir: Path) -> None:
        self.scenario = scenario
        self.config = scenario.system.docker
        self.logs = run_dir / "logs"
        self._run_dir = run_dir
        self._env = system_env(scenario)
        self._imports = [a for m in scenario.system.imports for a in ("--import", m)]
        self._rng = random.Random(f"{scenario.seed}-events")
        self._client: docker.DockerClient | None = None
        self._containers: RunContainers | None = None
        self._images: dict[str, BuiltImage] = {}
        self._redis = ContainerRedis(run_dir / "redis", scenario.system.redis.persistence)
        self._api: Container | None = None
        self._api_port = 0
        self._workers: list[_Worker] = []
        self._spawned = 0
        self._prometheus: LabPrometheus | None = None
        self._prometheus_container: ContainerPrometheus | None = None
        self._toxiproxy: ToxiproxyProcess | None = None
        self._proxies: ToxiproxyClient | None = None
        self._applied: dict[str, dict[str, float | int | None]] = {}

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._client = connect()
            self._containers = RunContainers(self._client, run_id(self._run_dir), self.logs)
            self._resolve_images()
            self._start_redis()
            if self.scenario.system.network_faults:
                self._toxiproxy = ToxiproxyProcess(
                    seed=f"{self.scenario.seed}-network", log_path=self.logs / "toxiproxy.log"
                ).start()
                self._proxies = ToxiproxyClient(self._toxiproxy.url)
            self._start_api()
            for _ in range(self.scenario.system.workers):
                self.spawn_worker()
            if self.scenario.system.prometheus != "off":  # the image has one
                self._start_prometheus()
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _resolve_images(self) -> None:
        """The image of each role, built (or found by its content hash) when not named."""
        assert self._client is not None
        main = image_for_run(self._client, self.config.image)
        self._images = {"api": main, "worker": main}
        self._images["redis"] = (
            image_for_run(self._client, self.config.redis_image)
            if self.config.redis_image
            else main
        )
        self._images["prometheus"] = (
            image_for_run(self._client, self.config.prometheus_image)
            if self.config.prometheus_image
            else main
        )

    def _run(self, name: str, role: str, command: list[str], **options: Any) -> Container:
        """A container of the API or a worker: ``taskq <command>``."""
        assert self._containers is not None
        image, limits = self._images[role].tag, _limits(self.config, role)
        container = self._containers.start(
            name, role, image, command, limits, entrypoint=["taskq"], **options
        )
        self._applied.setdefault(role, applied_limits(container))
        return container

    def _start_redis(self) -> None:
        assert self._containers is not None
        container = self._redis.start(
            self._containers, self._images["redis"].tag, _limits(self.config, "redis")
        )
        self._applied["redis"] = applied_limits(container)

    def _taskq(self, command: str, args: list[str]) -> list[str]:
        """The arguments of ``taskq`` (the entrypoint, whatever the image's own is). The
        Redis URL (with its password) goes in the environment (_taskq_env): with the host's
        pid namespace a command line is readable by every local user."""
        return [command, *args, *self._imports]

    def _taskq_env(self, redis_url: str) -> dict[str, str]:
        return {**self._container_env(), "TASKQ_REDIS_URL": redis_url}

    def _container_env(self) -> dict[str, str]:
        # API keys exported to the lab reach the API as they do a local child (which
        # inherits them), so the lab's sender and the API agree (lab.run.senders.api_key).
        keys = os.environ.get("TASKQ_API_KEYS")
        env = {"TASKQ_API_KEYS": keys, **self._env} if keys else dict(self._env)
        if dependency := os.environ.get(DEPENDENCY_URL):  # the run's fault-injectable one
            env[DEPENDENCY_URL] = dependency
        return env

    def _start_api(self) -> None:
        self._api_port = free_port()
        args = ["--host", "127.0.0.1", "--port", str(self._api_port), "--log-level", "warning"]
        self._api = self._run(
            "api",
            "api",
            self._taskq("api", args),
            environment=self._taskq_env(self._redis_url_for("redis-api")),
        )

    def _start_prometheus(self) -> None:
        assert self._containers is not None
        containers, image = self._containers, self._images["prometheus"].tag
        limits = _limits(self.config, "prometheus")

        def server(config: str, data_dir: Path, log_path: Path) -> PrometheusProcess:
            self._prometheus_container = ContainerPrometheus(
                containers, image, limits, config, data_dir, log_path
            )
            return self._prometheus_container

        self._prometheus = LabPrometheus(
            self._run_dir,
            f"127.0.0.1:{self._api_port}",
            self.scenario.report.metrics_interval_seconds,
            server,
        )
        self._publish_workers()
        self._prometheus.start([t.instance for t in self.scrape_targets()])
        if self._prometheus_container and self._prometheus_container.container:
            self._applied["prometheus"] = applied_limits(self._prometheus_container.container)

    def _publish_workers(self) -> None:
        if self._prometheus is not None:
            self._prometheus.set_workers([f"127.0.0.1:{w.metrics_port}" for w in self._workers])

    def _wait_until_serving(self) -> None:
        """The API answers and every worker has registered (at a fraction of a CPU each
        takes seconds to import the system)."""
        assert self._api is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    break
            self._api.reload()
            if self._api.status == "exited" or time.monotonic() > deadline:
                save_logs(self._api, self.logs / "api.log")
                raise RuntimeError(f"the API did not start; see {self.logs / 'api.log'}")
            time.sleep(0.1)
        with Client(self.redis_url) as client:
            while len(client.workers()) < len(self._workers):
                if dead := [w for w in self._workers if not _alive(w.pid)]:
                    raise RuntimeError(self._exited(dead[0]))
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{len(self._workers)} worker containers did not all register within"
                        f" {START_TIMEOUT_SECONDS:g} s; see {self.logs}/worker-*.log"
                    )
                time.sleep(0.1)

    def _exited(self, w: _Worker) -> str:
        """Why a worker container ended, for an error message (its log saved)."""
        save_logs(w.container, self.logs / f"{w.name}.log")
        w.container.reload()
        state = w.container.attrs.get("State", {})
        oom = " (killed: over its memory limit)" if state.get("OOMKilled") else ""
        return f"{w.name} exited with {state.get('ExitCode')}{oom}; see {self.logs}/{w.name}.log"

    def stop(self) -> None:
        """Everything down and removed, in an order that lets workers hand tasks back
        (the local backend's), then whatever of the run is left, found by its label."""
        try:
            self._stop_services()
        finally:
            if self._containers is not None:
                for container in self._containers.listed():
                    # lab-<run>-worker-3 -> logs/worker-3.log, lab-<run>-redis -> redis.log
                    name = str(container.name).rsplit(f"{self._containers.run}-", 1)[-1]
                    self._containers.finish(container, name)
            if self._client is not None:
                self._client.close()
            self._client = self._containers = None
            shutil.rmtree(self._redis.data_dir, ignore_errors=True)  # the AOF: of no use now

    def _stop_services(self) -> None:
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            if self._prometheus is not None:
                self._prometheus.stop()
        self._prometheus = None
        self.resume("redis")
        self.resume("worker")
        for w in self._workers:
            self._signal(w.container, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for w in self._workers:
            with contextlib.suppress(docker.errors.APIError, requests.RequestException):
                w.container.wait(timeout=max(1, int(deadline - time.monotonic())))
        self._workers.clear()
        if self._api is not None:
            with contextlib.suppress(docker.errors.APIError, requests.RequestException):
                self._api.stop(timeout=STOP_TIMEOUT_SECONDS)
        if self._proxies is not None:
            self._proxies.close()
            self._proxies = None
        if self._toxiproxy is not None:
            self._toxiproxy.stop()
            self._toxiproxy = None
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            self._redis.stop()

    # ---- addresses -------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        return self._redis.url

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._api_port}"

    @property
    def prometheus_url(self) -> str | None:
        return None if self._prometheus is None else self._prometheus.url

    def scrape_targets(self) -> list[ScrapeTarget]:
        ports = [w.metrics_port for w in self._workers if _alive(w.pid) and not w.paused]
        return base.scrape_targets(self.api_url, ports)

    def redis_version(self) -> str:
        return base.redis_version(self.redis_url)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if _alive(w.pid)]

    def environment(self) -> dict[str, Any]:
        """For environment.json: the engine, the image of each role, the limits the engine
        enforces on each role (read back from its containers)."""
        parent = self._containers.cgroup_parent if self._containers else None
        return backend_manifest(self._client, parent, self._images, self._applied)

    # ---- operations ------------------------------------------------------------------

    def _redis_url_for(self, proxy: str) -> str:
        """Redis as one container sees it: through its own proxy when network faults are on."""
        if self._proxies is None:
            return self.redis_url
        listen = self._proxies.create_proxy(proxy, f"127.0.0.1:{self._redis.port}")["listen"]
        host, _, port = str(listen).rpartition(":")
        return private_url(int(port), self._redis.password, host)

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
        ]
        proxy = f"redis-{name}" if self._proxies is not None else ""
        redis_url = self._redis_url_for(proxy) if proxy else self.redis_url
        container = self._run(
            name,
            "worker",
            self._taskq("worker", args),
            environment=self._taskq_env(redis_url),
        )
        pid = int(container.attrs["State"]["Pid"])
        self._workers.append(_Worker(name, container, pid, port, proxy=proxy))
        self._publish_workers()
        return Affected(name, pid)

    @property
    def toxiproxy_url(self) -> str | None:
        return self._toxiproxy.url if self._toxiproxy is not None else None

    def network_proxies(self, target: NetworkTarget, which: Which) -> list[tuple[Affected, str]]:
        if self._proxies is None:
            return []
        if target == "api":
            assert self._api is not None
            return [(Affected("api", int(self._api.attrs["State"]["Pid"])), "redis-api")]
        if target == "workers":
            live = [w for w in self._workers if _alive(w.pid)]
        else:
            one = self._pick(which)
            live = [one] if one is not None else []
        return [(Affected(w.name, w.pid), w.proxy) for w in live]

    def _pick(self, which: Which, *, paused: bool | None = None) -> _Worker | None:
        # A stopping worker is left out: a scale-down by two must stop two workers, not
        # send the newest a second SIGTERM (which tells a worker to stop at once).
        live = [w for w in self._workers if _alive(w.pid) and not w.stopping]
        if paused is not None:
            live = [w for w in live if w.paused == paused]
        return pick(live, which, self._rng, self.redis_url, lambda w: w.pid)

    @staticmethod
    def _signal(container: Container, signum: int) -> None:
        with contextlib.suppress(docker.errors.APIError):  # exited already
            container.kill(signal=signal.Signals(signum).name)

    def signal_worker(self, which: Which, signum: int) -> Affected | None:
        w = self._pick(which)
        if w is None:
            return None
        if w.paused:  # the engine signals no paused container
            w.container.unpause()
            w.paused = False
        self._signal(w.container, signum)
        w.stopping = signum == signal.SIGTERM
        return Affected(w.name, w.pid)

    def worker_exited(self, pid: int) -> bool:
        for w in self._workers:
            if w.pid == pid and not _alive(pid):
                self._workers.remove(w)
                self._publish_workers()
                assert self._containers is not None
                self._containers.finish(w.container, w.name)
                return True
        return not any(w.pid == pid for w in self._workers)

    def pause(self, target: Target, which: Which) -> Affected | None:
        """The cgroup freezer: frozen when this returns (no pid: a frozen process is not
        in state T, which the timeline would wait for)."""
        if target == "redis":
            self._redis.pause()
            return Affected("redis")
        w = self._pick(which, paused=False)
        if w is None:
            return None
        w.container.pause()
        w.paused = True
        return Affected(w.name)

    def resume(self, target: Target) -> list[Affected]:
        if target == "redis":
            return [Affected("redis")] if self._redis.resume() else []
        out = []
        for w in self._workers:
            if w.paused:
                with contextlib.suppress(docker.errors.APIError):
                    w.container.unpause()
                w.paused = False
                out.append(Affected(w.name, w.pid))
        return out

    def restart_redis(self, crash: bool) -> Affected:
        """The same container again: same port, same AOF directory, so the data comes back
        (with AOF). A crash is SIGKILL; otherwise SIGTERM, Redis's graceful shutdown."""
        self._redis.restart(crash)
        return Affected("redis", self._redis.pid)
