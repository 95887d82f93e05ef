"""What a stranger can hold (issue 18, section 3): the API key is checked before the body
is read; slow headers, slow bodies and idle connections time out; the number of queues is
bounded and operations on queues that do not exist create nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem

KEY = "k" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_QUEUES = 3
ENV = {
    "TASKQ_API_KEYS": KEY,
    "TASKQ_API__HEADER_TIMEOUT_SECONDS": "1",
    "TASKQ_API__BODY_TIMEOUT_SECONDS": "1",
    "TASKQ_API__MAX_QUEUES": str(MAX_QUEUES),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(API URL, Redis URL): an API with a key and one-second deadlines, on its own Redis."""
    log = tmp_path_factory.mktemp("held") / "api.log"
    with RedisServer() as redis_server, running_api(redis_server.url, log, ENV) as url:
        yield url, redis_server.url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection or 10 s pass."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            lengths = [
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if sep and lengths and len(body) >= lengths[0]:
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def test_the_key_is_checked_before_the_body_is_read(server: tuple[str, str]) -> None:
    url, _ = server
    with _connect(url) as sock:
        # Headers of a 1 MB body, and not one byte of it: no key, so no need to wait.
        sock.sendall(
            b"POST /tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n"
        )
        start = time.monotonic()
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert time.monotonic() - start < 0.9  # not after the body deadline (1 s)


def test_slow_headers_are_cut_off(server: tuple[str, str]) -> None:
    url, _ = server
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        start = time.monotonic()
        closed = False
        for byte in b"X-Slow: " + b"a" * 40:  # a byte every 0.2 s: 9.6 s in all
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                if sock.recv(65536, socket.MSG_PEEK) is not None:
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        assert closed, "the server waited for the whole trickle"
        assert time.monotonic() - start < 6
        answer = _answer(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_silent_connection_is_closed(server: tuple[str, str]) -> None:
    url, _ = server
    with _connect(url) as sock:
        start = time.monotonic()
        answer = _answer(sock)  # sends nothing
        assert time.monotonic() - start < 6
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_slow_body_is_refused(server: tuple[str, str]) -> None:
    url, _ = server
    with _connect(url) as sock:
        sock.sendall(
            b"POST /tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        start = time.monotonic()
        answer = _answer(sock)
        assert time.monotonic() - start < 6
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 1 s" in answer


def test_queues_are_bounded_and_missing_ones_are_404(server: tuple[str, str]) -> None:
    url, redis_url = server
    with httpx.Client(base_url=url, headers=AUTH) as http:
        for i in range(MAX_QUEUES):
            assert http.post("/tasks/", json={"task_type": "echo", "queue": f"b{i}"}).is_success
        r = http.post("/tasks/", json={"task_type": "echo", "queue": "one-more"})
        assert_problem(r, 409, "'one-more'", "TASKQ_API__MAX_QUEUES", f"{MAX_QUEUES} exist")
        batch = {"tasks": [{"task_type": "echo", "queue": "b0"}, {"task_type": "echo"}]}
        assert_problem(http.post("/tasks/batch", json=batch), 409, "'default'")
        assert http.post("/tasks/", json={"task_type": "echo", "queue": "b1"}).is_success
        assert len(http.get("/queues").json()) == MAX_QUEUES

        for method, path in [
            ("GET", "/queues/nope"),
            ("POST", "/queues/nope/pause"),
            ("POST", "/queues/nope/resume"),
            ("GET", "/queues/nope/breakers"),
            ("GET", "/queues/nope/dead-letter"),
            ("POST", "/queues/nope/dead-letter/requeue"),
            ("GET", "/tasks?queue=nope"),
        ]:
            assert_problem(http.request(method, path), 404, "no queue named 'nope'")
        assert http.post("/queues/b0/pause").json()["paused"] is True
    with redis.Redis.from_url(redis_url) as r:
        assert r.keys("*nope*") == []  # nothing was created for it
        assert r.keys("*one-more*") == []
