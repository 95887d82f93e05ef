"""The ``toxiproxy-python`` client package drives the lab's proxy: an independent check that
the API is the one Toxiproxy clients expect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy  # type: ignore[import-untyped]
from toxiproxy.exceptions import NotFound, ProxyExists  # type: ignore[import-untyped]

from lab.faults.toxiproxy import ToxiproxyServer
from tests.lab.faults.toxiproxy.conftest import connect


@pytest.fixture
def tp(toxiproxy: ToxiproxyServer) -> Iterator[Toxiproxy]:
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", toxiproxy.port)
    yield server
    server.reset()
    server.destroy_all()


def test_python_client_full_cycle(tp: Toxiproxy, echo_address: str) -> None:
    assert tp.running() and b"version" in tp.version()
    proxy = tp.create(upstream=echo_address, name="py-echo")
    assert proxy.enabled is True and proxy.listen.startswith("127.0.0.1:")
    assert set(tp.proxies()) == {"py-echo"}
    with pytest.raises(ProxyExists):
        tp.create(upstream=echo_address, name="py-echo")

    proxy.add_toxic(type="latency", attributes={"latency": 50})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="slow-up", attributes={"rate": 9})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "slow-up"}
    assert toxics["slow-up"].stream == "upstream" and toxics["slow-up"].attributes == {"rate": 9}
    assert proxy.destroy_toxic("slow-up")
    assert set(proxy.toxics()) == {"latency_downstream"}

    with proxy.down():
        assert tp.get_proxy("py-echo").enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen)
    assert tp.get_proxy("py-echo").enabled is True
    with connect(proxy.listen) as sock:
        sock.sendall(b"ok")
        assert sock.recv(10) == b"ok"

    assert tp.reset()
    assert proxy.toxics() == {}
    assert tp.destroy(proxy)
    assert tp.get_proxy("py-echo") is None
    with pytest.raises(NotFound):
        proxy.destroy()
