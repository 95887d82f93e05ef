"""The docker backend's Redis: ``redis-server`` in a container on a free loopback port,
its AOF in the run's ``redis/`` folder (bind-mounted at its own path), with the same
options as the local ``RedisServer``. A restart starts the same container again: same
port, same directory, so the AOF is reloaded.

Like the local one it gets a generated password, through a 0600 config file (the first
argument) rather than its command line, which every local user can read (the containers
share the host's pid namespace); the directory is 0700, so its AOF is private too.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Literal

import docker.errors
import redis

from lab.backends.docker.containers import Container, Limits, RunContainers
from system.redis_server import (
    free_port,
    generate_password,
    private_url,
    server_options,
    write_private_config,
)

START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10

Persistence = Literal["none", "aof-everysec", "aof-always"]


class ContainerRedis:
    def __init__(self, data_dir: Path, persistence: Persistence) -> None:
        self.data_dir = data_dir.resolve()
        self.port = free_port()
        self.password = generate_password()
        self._options = server_options(
            persistence != "none", "always" if persistence == "aof-always" else "everysec"
        )
        self.container: Container | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return private_url(self.port, self.password)

    @property
    def pid(self) -> int:
        assert self.container is not None
        self.container.reload()
        return int(self.container.attrs["State"]["Pid"])

    def start(self, containers: RunContainers, image: str, limits: Limits) -> Container:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the AOF and the password's config file: ours alone
        config = str(write_private_config(self.data_dir, self.password))
        data = str(self.data_dir)
        address = ["--bind", "127.0.0.1", "--port", str(self.port), "--dir", data]
        self.container = containers.start(
            "redis",
            "redis",
            image,
            [config, *address, *self._options],
            limits,
            entrypoint=["redis-server"],
            user=f"{os.getuid()}:{os.getgid()}",  # the AOF in the run folder is ours
            volumes={data: {"bind": data, "mode": "rw"}},
        )
        self._wait()
        return self.container

    def _wait(self) -> None:
        assert self.container is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with redis.Redis.from_url(self.url, socket_timeout=1.0) as r:
            while True:
                with contextlib.suppress(redis.ConnectionError):  # and BusyLoadingError
                    if r.ping():
                        return
                self.container.reload()
                if self.container.status == "exited" or time.monotonic() > deadline:
                    logs = self.container.logs().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"Redis did not answer in its container:\n{logs}")
                time.sleep(0.05)

    def pause(self) -> None:
        """The cgroup freezer: frozen when this returns."""
        assert self.container is not None
        self.container.pause()
        self.paused = True

    def resume(self) -> bool:
        """True if it was paused."""
        if not self.paused or self.container is None:
            return False
        with contextlib.suppress(docker.errors.APIError):  # not paused after all
            self.container.unpause()
        self.paused = False
        return True

    def restart(self, crash: bool) -> None:
        """SIGKILL (a crash) or SIGTERM (Redis's graceful shutdown), then the same container
        again, answering PING."""
        assert self.container is not None
        self.resume()
        if crash:
            self.container.kill()
            self.container.wait(timeout=STOP_TIMEOUT_SECONDS)
        else:
            self.container.stop(timeout=STOP_TIMEOUT_SECONDS)
        self.container.start()
        self._wait()

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop(timeout=STOP_TIMEOUT_SECONDS)
