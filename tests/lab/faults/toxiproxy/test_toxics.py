"""Each toxic's effect on a real TCP echo server and on a real Redis connection."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyServer
from tests.lab.faults.toxiproxy.conftest import connect, recv_exactly


def _proxy(client: ToxiproxyClient, upstream: str, name: str = "echo") -> str:
    return str(client.create_proxy(name, upstream)["listen"])


def _round_trip(sock: socket.socket, data: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data
    return time.monotonic() - start


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_adds_at_least_the_delay(
    client: ToxiproxyClient, echo_address: str, stream: str
) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        assert _round_trip(sock) < 0.25
        client.add_toxic("echo", "latency", {"latency": 300, "jitter": 20}, stream=stream)
        assert _round_trip(sock) >= 0.28  # latency - jitter, on an open connection
        client.remove_toxic("echo", f"latency_{stream}")
        assert _round_trip(sock) < 0.25


def test_bandwidth_limits_the_rate(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "bandwidth", {"rate": 100})  # 100 KB/s
        assert _round_trip(sock, b"x" * 40_000) >= 0.35  # 40 KB at 100 KB/s: 0.4 s


def test_timeout_drops_data_then_closes(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "timeout", {"timeout": 300}, stream="upstream")
        start = time.monotonic()
        sock.sendall(b"lost")
        assert sock.recv(10) == b""  # nothing came back, and then the connection closed
        assert time.monotonic() - start >= 0.25


def test_reset_peer_resets(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "reset_peer", {"timeout": 0})
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"x")
            sock.recv(10)


def test_slicer_cuts_the_stream(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic(
            "echo", "slicer", {"average_size": 10, "size_variation": 0, "delay": 30_000}
        )
        sock.sendall(b"y" * 100)
        first = sock.recv(1000)
        assert 0 < len(first) < 100  # the rest comes 30 ms per slice later
        assert recv_exactly(sock, 100 - len(first)) == b"y" * (100 - len(first))


def test_limit_data_closes_after_the_limit(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "limit_data", {"bytes": 6})
        sock.sendall(b"abcdefghij")
        assert recv_exactly(sock, 20) == b"abcdef"  # 6 bytes, then closed


def test_slow_close_delays_the_close(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "slow_close", {"delay": 300})
        start = time.monotonic()
        sock.sendall(b"quit")  # the echo server answers "bye" and closes
        assert recv_exactly(sock, 3) == b"bye"
        assert sock.recv(10) == b""
        assert time.monotonic() - start >= 0.28


def test_toxicity_zero_spares_the_connection(client: ToxiproxyClient, echo_address: str) -> None:
    with connect(_proxy(client, echo_address)) as sock:
        client.add_toxic("echo", "latency", {"latency": 300}, toxicity=0.0)
        assert _round_trip(sock) < 0.2


def test_partition_cuts_a_redis_client_and_heals(
    client: ToxiproxyClient, redis_url: str, queue_name: str
) -> None:
    upstream = redis_url.split("//", 1)[1].split("/", 1)[0]
    listen = _proxy(client, upstream, "redis")
    r = redis.Redis.from_url(f"redis://{listen}/0", socket_timeout=2)
    key = f"{queue_name}:toxi"
    r.set(key, "1")
    client.set_enabled("redis", False)
    with pytest.raises(redis.ConnectionError):
        r.get(key)
    client.set_enabled("redis", True)
    assert r.get(key) == b"1"
    client.add_toxic("redis", "latency", {"latency": 100})
    start = time.monotonic()
    r.get(key)
    assert time.monotonic() - start >= 0.1
    r.delete(key)
    r.close()


def _slow_pattern(seed: int, echo_address: str) -> list[bool]:
    """Which of 10 connections a toxicity-0.5 latency toxic hits, on a fresh server."""
    with ToxiproxyServer(seed=seed) as server:
        c = ToxiproxyClient(server.url)
        listen = _proxy(c, echo_address)
        c.add_toxic("echo", "latency", {"latency": 150}, toxicity=0.5)
        pattern = []
        for _ in range(10):
            with connect(listen) as sock:
                pattern.append(_round_trip(sock) >= 0.15)
        c.close()
    return pattern


def test_toxicity_is_rolled_per_connection_from_the_seed(echo_address: str) -> None:
    first = _slow_pattern(5, echo_address)
    assert 0 < sum(first) < 10  # some connections hit, some spared
    assert _slow_pattern(5, echo_address) == first  # the same seed, the same connections
