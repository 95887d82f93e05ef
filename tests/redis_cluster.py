"""A real Redis Cluster on loopback for the tests (the ``redis_cluster`` fixture): its
masters are ``system.redis_server.RedisServer`` children, joined by ``redis-cli``."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Self

import redis

from system.redis_server import RedisBinaryNotFoundError, RedisServer, find_redis_binary, free_ports


class LocalCluster:
    """A real Redis Cluster of ``masters`` nodes on loopback, joined by ``redis-cli``.

    Each node gets two free ports, client and ``--cluster-port`` bus: the default bus port
    (client + 10000) could be taken or exceed 65535."""

    def __init__(self, masters: int = 3, *, binary: str | None = None) -> None:
        self._masters = masters
        self._binary = binary
        self.nodes: list[RedisServer] = []

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        if not self.nodes:
            raise RuntimeError("LocalCluster not started")
        return self.nodes[0].url

    def start(self) -> Self:
        if self.nodes:
            raise RuntimeError(f"LocalCluster already running at {self.url}")
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisBinaryNotFoundError(
                "LocalCluster needs `redis-cli` on PATH (Debian: apt-get install redis-tools)"
            )
        binary = self._binary or find_redis_binary()
        ports = free_ports(2 * self._masters)
        try:
            for port, bus in zip(ports[::2], ports[1::2], strict=True):
                args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    str(bus),
                ]
                self.nodes.append(RedisServer(port=port, binary=binary, extra_args=args).start())
            addrs = [f"127.0.0.1:{node.port}" for node in self.nodes]
            made = subprocess.run(
                [cli, "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            if made.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create: {made.stdout}{made.stderr}")
            self._wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ok(self, timeout_seconds: float = 15.0) -> None:
        """Until every node says ``cluster_state:ok`` (it sees all slots served)."""
        deadline = time.monotonic() + timeout_seconds
        for node in self.nodes:
            with redis.Redis(host="127.0.0.1", port=node.port, decode_responses=True) as c:
                while c.cluster("INFO").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cluster not ok on {node.port} in {timeout_seconds}s")
                    time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()

    def __enter__(self) -> Self:
        return self if self.nodes else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
