"""A real proxy server (in a thread) and a real TCP echo server, both on loopback."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import httpx
import pytest

from lab.faults.toxiproxy import ToxiproxyClient, ToxiproxyServer


class _Echo(socketserver.BaseRequestHandler):
    """Echoes what it reads; on b"quit" it answers b"bye" and closes."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                if data.strip() == b"quit":
                    sock.sendall(b"bye")
                    return
                sock.sendall(data)
        except OSError:
            pass  # the proxy reset or cut the connection: what some tests do on purpose


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_address() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(seed=7) as server:
        yield server


@pytest.fixture
def api(toxiproxy: ToxiproxyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy.url, timeout=5) as http:
        yield http
        http.post("/reset")
        for name in list(http.get("/proxies").json()):
            http.delete(f"/proxies/{name}")


@pytest.fixture
def client(toxiproxy: ToxiproxyServer, api: httpx.Client) -> Iterator[ToxiproxyClient]:
    c = ToxiproxyClient(toxiproxy.url)
    yield c
    c.close()


def connect(listen: str) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            break
        out += data
    return out
