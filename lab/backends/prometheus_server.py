"""A Prometheus for taskq processes on this machine (the lab's backends, the tests).

``render_prometheus_config`` gives the same jobs and rule files as
``monitoring/prometheus.yml`` (the compose stack's) with loopback targets: the API as a
static target, workers from a file-based discovery list that ``write_targets`` rewrites
as workers come and go. ``PrometheusServer`` runs the ``prometheus`` binary with it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

from system.redis_server import die_with_parent, free_port

MONITORING_DIR = Path(__file__).resolve().parents[2] / "monitoring"
API_JOB = "taskq-api"
WORKER_JOB = "taskq-worker"


def _loopback(target: str) -> str:
    host = target.rpartition(":")[0].strip("[]")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{target!r} is not a loopback host:port")
    return target


def render_prometheus_config(
    api_targets: Sequence[str],
    workers_file: Path,
    *,
    rules_dir: Path = MONITORING_DIR / "rules",
    scrape_interval_seconds: float = 1.0,
) -> str:
    """The configuration text. ``workers_file`` is the worker discovery list (see
    ``write_targets``); it may be created later."""
    interval = f"{int(scrape_interval_seconds * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_dir.resolve() / "*.yml")],
        "scrape_configs": [
            {
                "job_name": API_JOB,
                "static_configs": [{"targets": [_loopback(t) for t in api_targets]}],
            },
            {
                "job_name": WORKER_JOB,
                # Absolute: Prometheus reads a relative path from its config file's folder.
                "file_sd_configs": [
                    {"files": [str(workers_file.resolve())], "refresh_interval": interval}
                ],
            },
        ],
    }
    return json.dumps(config, indent=2)


def write_targets(path: Path, targets: Sequence[str]) -> None:
    """Replace a file-based discovery list atomically (Prometheus never reads half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([{"targets": [_loopback(t) for t in targets]}]))
    os.replace(tmp, path)


class PrometheusServer:
    """A ``prometheus`` child on a free loopback port, its data and config in
    ``data_dir``. Ready once ``/-/ready`` answers."""

    def __init__(
        self,
        config_text: str,
        data_dir: Path,
        *,
        binary: str = "prometheus",
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path or data_dir / "prometheus.log"
        self.port = free_port()
        self._config_text = config_text
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> Self:
        binary = shutil.which(self._binary)
        if binary is None:
            raise FileNotFoundError(
                f"{self._binary} not on PATH (Debian: apt-get install prometheus)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(self._config_text)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        parent, on_main = os.getpid(), threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=(lambda: die_with_parent(parent)) if on_main else None,
        )
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return self
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = self.log_path.read_text(errors="replace")
                    raise RuntimeError(f"prometheus did not start on {self.url}:\n{log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
