"""Serves a worker's ``/metrics`` (``--metrics-port``), adding up all of its processes.

A worker runs process-mode handlers in a pool of child processes. Handlers there may
record metrics of their own; prometheus_client's multiprocess mode makes every process
write its values to files in ``PROMETHEUS_MULTIPROC_DIR``, and the scrape adds them up.
The mode is chosen when prometheus_client is *imported*, so ``use_multiprocess_dir`` must
run before that, and pool children inherit the variable. The taskq metrics themselves are
all recorded in the worker's main process, so its totals are right either way.

Counters of a dead process stay in the sum (a total must not drop); its live gauges are
removed with ``process_died``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
from wsgiref.simple_server import WSGIServer

ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_dir() -> str:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` (a fresh private directory, removed at exit,
    unless the operator set one) before prometheus_client is imported."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError(f"{ENV} must be set before prometheus_client is imported")
    given = os.environ.get(ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        return given
    path = tempfile.mkdtemp(prefix="taskq-metrics-")
    os.environ[ENV] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _multiprocess() -> bool:
    return bool(os.environ.get(ENV))


def process_died(pid: int) -> None:
    """Drop the live gauges of a process that exited (a no-op in single-process mode)."""
    if _multiprocess():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class MetricsServer:
    """``/metrics`` over HTTP in a background thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = REGISTRY
        if _multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        self._server, self._thread = start_http_server(self.port, self.host, registry)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        process_died(os.getpid())
