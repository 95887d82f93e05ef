"""The local backend's Prometheus (``system.prometheus: auto | on | off``).

A ``prometheus`` child on a free loopback port with the jobs and rules of
``monitoring/prometheus.yml`` (rendered by ``lab.backends.prometheus_server``) and the
scenario's sampling interval as scrape interval. The API is a static target; workers
come from a file-based discovery list that is rewritten atomically whenever the set of
workers changes, so Prometheus follows scale events. Its config and TSDB stay in
``<run>/prometheus/`` (a person can start a Prometheus on them later), its log is
``<run>/logs/prometheus.log``.

Prometheus (2.42) applies discovered targets at most every 5 s, so a target is first
scraped up to 5 s after it appears: ``start`` waits for the first targets, and the run
waits for every target (a worker spawned late too) before reading the series back.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import httpx

from lab.backends.prometheus_server import (
    PrometheusServer,
    render_prometheus_config,
    write_targets,
)

Mode = Literal["auto", "on", "off"]
BINARY = "prometheus"


class PrometheusProcess(Protocol):
    """A Prometheus that runs the given configuration: a child process
    (``PrometheusServer``) or a container (the docker backend's)."""

    log_path: Path

    @property
    def url(self) -> str: ...
    def start(self) -> object: ...
    def stop(self) -> None: ...


# (configuration text, data directory, log path) -> a Prometheus not yet started
ServerFactory = Callable[[str, Path, Path], PrometheusProcess]


def local_server(config_text: str, data_dir: Path, log_path: Path) -> PrometheusProcess:
    return PrometheusServer(config_text, data_dir, binary=BINARY, log_path=log_path)


def wanted(mode: Mode) -> bool:
    """Whether to start one; ``on`` without the binary is an error naming the option."""
    if mode == "off":
        return False
    found = shutil.which(BINARY) is not None
    if mode == "on" and not found:
        raise RuntimeError(
            "system.prometheus is 'on' but the prometheus binary is not on PATH "
            "(Debian: apt-get install prometheus; or set system.prometheus: auto / off)"
        )
    return found


def scraped_after(url: str, instances: Collection[str], at: float) -> bool:
    """Every one of ``instances`` (``host:port``) is an active target scraped after ``at``."""
    reply = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5).json()
    last = {
        t["labels"]["instance"]: datetime.fromisoformat(t["lastScrape"]).timestamp()
        for t in reply["data"]["activeTargets"]
    }
    return all(last.get(i, 0.0) > at for i in instances)


def wait_until_scraped(
    url: str, instances: Collection[str], at: float, timeout_seconds: float
) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while not scraped_after(url, instances, at):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class LabPrometheus:
    def __init__(
        self,
        run_dir: Path,
        api_target: str,
        scrape_interval_seconds: float,
        server: ServerFactory = local_server,
    ) -> None:
        self.data_dir = run_dir / "prometheus"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.workers_file = self.data_dir / "workers.json"
        config = render_prometheus_config(
            [api_target], self.workers_file, scrape_interval_seconds=scrape_interval_seconds
        )
        self._server = server(config, self.data_dir, run_dir / "logs" / "prometheus.log")
        self.set_workers([])

    @property
    def url(self) -> str:
        return self._server.url

    def start(self, first_targets: Collection[str], timeout_seconds: float = 20.0) -> None:
        """Ready, and each of ``first_targets`` scraped once (a run's series start full)."""
        started = time.time()
        self._server.start()
        if not wait_until_scraped(self.url, first_targets, started, timeout_seconds):
            raise RuntimeError(
                f"Prometheus did not scrape {sorted(first_targets)} within {timeout_seconds:g} s"
                f"; see {self._server.log_path} and {self.url}/targets"
            )

    def set_workers(self, targets: Sequence[str]) -> None:
        """The workers' ``host:port`` metrics endpoints, replacing the previous list."""
        write_targets(self.workers_file, targets)

    def stop(self) -> None:
        self._server.stop()
