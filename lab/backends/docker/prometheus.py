"""The docker backend's Prometheus: the same generated configuration as the local one
(``lab.backends.prometheus``), run by a container.

The run's ``prometheus/`` folder (configuration, worker discovery list, TSDB) and the
rules folder are bind-mounted at their own paths, so the configuration's paths hold inside
the container unchanged and the TSDB stays in the run folder, as with the local backend.
"""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

from lab.backends.docker.containers import Container, Limits, RunContainers
from lab.backends.prometheus_server import MONITORING_DIR
from system.redis_server import free_port

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10


class ContainerPrometheus:
    def __init__(
        self,
        containers: RunContainers,
        image: str,
        limits: Limits,
        config_text: str,
        data_dir: Path,
        log_path: Path,
    ) -> None:
        self.log_path = log_path
        self.port = free_port()
        self._containers = containers
        self._image = image
        self._limits = limits
        self._config_text = config_text
        self._data_dir = data_dir.resolve()
        self.container: Container | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ContainerPrometheus:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        config = self._data_dir / "prometheus.yml"
        config.write_text(self._config_text)
        rules = str(MONITORING_DIR / "rules")
        self.container = self._containers.start(
            "prometheus",
            "prometheus",
            self._image,
            [
                f"--config.file={config}",
                f"--storage.tsdb.path={self._data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            self._limits,
            entrypoint=["prometheus"],
            user=f"{os.getuid()}:{os.getgid()}",  # the TSDB in the run folder is ours
            volumes={
                str(self._data_dir): {"bind": str(self._data_dir), "mode": "rw"},
                rules: {"bind": rules, "mode": "ro"},
            },
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return self
            except OSError:
                self.container.reload()
                if self.container.status == "exited" or time.monotonic() > deadline:
                    logs = self.container.logs().decode(errors="replace")[-2000:]
                    raise RuntimeError(
                        f"prometheus did not start on {self.url} ({self.container.name}):\n{logs}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stopped (its TSDB flushed); the backend removes it with the run's others."""
        if self.container is not None:
            self.container.stop(timeout=STOP_TIMEOUT_SECONDS)
