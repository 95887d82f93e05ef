"""The HTTP API: Toxiproxy's JSON shapes and status codes."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.lab.faults.toxiproxy.conftest import connect


def _create(api: httpx.Client, echo_address: str, name: str = "echo") -> dict[str, object]:
    r = api.post("/proxies", json={"name": name, "upstream": echo_address})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_version(api: httpx.Client) -> None:
    r = api.get("/version")
    assert r.status_code == 200
    assert isinstance(r.json()["version"], str)


def test_proxy_create_list_show_delete(api: httpx.Client, echo_address: str) -> None:
    created = _create(api, echo_address)
    assert set(created) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert created["enabled"] is True and created["toxics"] == []
    assert str(created["listen"]).startswith("127.0.0.1:")
    assert not str(created["listen"]).endswith(":0")  # the port it got, not the one asked
    assert api.get("/proxies").json() == {"echo": created}
    assert api.get("/proxies/echo").json() == created
    assert api.delete("/proxies/echo").status_code == 204
    missing = api.get("/proxies/echo")
    assert missing.status_code == 404
    assert missing.json() == {"error": "proxy not found", "status": 404}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"upstream": "127.0.0.1:1"}, 400, "missing required field: name"),
        ({"name": "x"}, 400, "missing required field: upstream"),
        ({"name": "x", "upstream": "10.0.0.1:80"}, 400, "upstream must be on 127.0.0.1"),
        ({"name": "x", "upstream": "127.0.0.1:1", "listen": "0.0.0.0:0"}, 400, "listen must"),
    ],
)
def test_proxy_create_errors(
    api: httpx.Client, body: dict[str, str], status: int, error: str
) -> None:
    r = api.post("/proxies", json=body)
    assert r.status_code == status
    assert error in r.json()["error"] and r.json()["status"] == status


def test_duplicate_proxy_is_409_and_bad_json_400(api: httpx.Client, echo_address: str) -> None:
    _create(api, echo_address)
    r = api.post("/proxies", json={"name": "echo", "upstream": echo_address})
    assert r.status_code == 409 and r.json()["error"] == "proxy already exists"
    bad = api.post("/proxies", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad request body")


def test_disable_closes_and_refuses_then_enable(api: httpx.Client, echo_address: str) -> None:
    listen = str(_create(api, echo_address)["listen"])
    sock = connect(listen)
    sock.sendall(b"hi")
    assert sock.recv(10) == b"hi"
    r = api.post("/proxies/echo", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert sock.recv(10) == b""  # the open connection was closed
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    r = api.patch("/proxies/echo", json={"enabled": True})
    assert r.json()["enabled"] is True and r.json()["listen"] == listen  # same port again
    again = connect(listen)
    again.sendall(b"back")
    assert again.recv(10) == b"back"
    for s in (sock, again):
        s.close()


def test_toxic_lifecycle(api: httpx.Client, echo_address: str) -> None:
    _create(api, echo_address)
    r = api.post("/proxies/echo/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 5},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    dup = api.post("/proxies/echo/toxics", json={"type": "latency"})
    assert dup.status_code == 409 and dup.json()["error"] == "toxic already exists"
    assert [t["name"] for t in api.get("/proxies/echo/toxics").json()] == ["latency_downstream"]
    assert api.get("/proxies/echo").json()["toxics"][0]["name"] == "latency_downstream"
    up = api.post(
        "/proxies/echo/toxics/latency_downstream", json={"attributes": {"jitter": 2}}
    ).json()
    assert up["attributes"] == {"latency": 5, "jitter": 2}
    assert api.get("/proxies/echo/toxics/latency_downstream").json() == up
    assert api.delete("/proxies/echo/toxics/latency_downstream").status_code == 204
    gone = api.get("/proxies/echo/toxics/latency_downstream")
    assert gone.status_code == 404 and gone.json()["error"] == "toxic not found"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "nope"}, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, "stream was invalid"),
        ({"type": "latency", "toxicity": 2}, "toxicity"),
        ({"type": "latency", "attributes": {"rate": 1}}, "unknown attribute 'rate'"),
    ],
)
def test_toxic_errors(api: httpx.Client, echo_address: str, body: object, error: str) -> None:
    _create(api, echo_address)
    r = api.post("/proxies/echo/toxics", json=body)
    assert r.status_code == 400 and error in r.json()["error"]
    assert api.post("/proxies/nope/toxics", json={"type": "latency"}).status_code == 404


def test_reset_enables_and_clears(api: httpx.Client, echo_address: str) -> None:
    listen = str(_create(api, echo_address)["listen"])
    api.post("/proxies/echo/toxics", json={"type": "timeout", "stream": "upstream"})
    api.post("/proxies/echo", json={"enabled": False})
    assert api.post("/reset").status_code == 204
    state = api.get("/proxies/echo").json()
    assert state["enabled"] is True and state["toxics"] == []
    with socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1])), 5) as s:
        s.sendall(b"ok")
        assert s.recv(10) == b"ok"


def test_populate_creates_keeps_and_replaces(api: httpx.Client, echo_address: str) -> None:
    first = api.post("/populate", json=[{"name": "a", "upstream": echo_address}])
    assert first.status_code == 201
    (a,) = first.json()["proxies"]
    api.post("/proxies/a/toxics", json={"type": "latency"})
    again = api.post(
        "/populate",
        json=[{"name": "a", "upstream": echo_address}, {"name": "b", "upstream": echo_address}],
    ).json()["proxies"]
    assert [p["name"] for p in again] == ["a", "b"]
    assert again[0]["listen"] == a["listen"] and len(again[0]["toxics"]) == 1  # kept as it was
    other = echo_address.rsplit(":", 1)[0] + ":1"
    replaced = api.post("/populate", json=[{"name": "a", "upstream": other}]).json()["proxies"]
    assert replaced[0]["upstream"] == other and replaced[0]["toxics"] == []
    assert api.post("/populate", json={"name": "x"}).status_code == 400
