"""The load generator's HTTP client (``lab.run.http_client``) and ``HttpSender`` on it:
keep-alive reuse, a connection the server closed while idle, the status mapping (429 /
503 / connection refused -> ``Refused``, other errors -> ``SubmitFailed`` with the API's
reason), against the real API and against a scripted server for the races."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from lab.run.http_client import ConnectionClosed, HttpClient
from lab.run.senders import HttpSender, Refused, SubmitFailed
from lab.scenario.model import TaskKind
from system.redis_server import RedisServer, free_port
from tests.system.api.conftest import running_api

ECHO = TaskKind(task_type="echo", payload={"n": 1})


@pytest.fixture(scope="module")
def api(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The server drops idle keep-alive connections after 1 s (its minimum).
    env = {"TASKQ_API__IDLE_TIMEOUT_SECONDS": "1"}
    log = tmp_path_factory.mktemp("api") / "api.log"
    with running_api(redis_server.url, log, env) as url:
        yield url


def test_submits_reuse_one_keep_alive_connection(api: str) -> None:
    async def main() -> tuple[list[str], int]:
        sender = HttpSender(api, max_connections=8)
        ids = [await sender.submit(ECHO) for _ in range(20)]
        connections = sender._http.connections
        await sender.close()
        return ids, connections

    ids, connections = asyncio.run(main())
    assert len(set(ids)) == 20
    assert connections == 1


def test_concurrent_submits_stay_within_the_connection_cap(api: str) -> None:
    async def main() -> tuple[list[str], int]:
        sender = HttpSender(api, max_connections=4)
        ids = await asyncio.gather(*(sender.submit(ECHO) for _ in range(50)))
        connections = sender._http.connections
        await sender.close()
        return list(ids), connections

    ids, connections = asyncio.run(main())
    assert len(set(ids)) == 50
    assert 1 <= connections <= 4


def test_a_connection_the_server_closed_while_idle_is_not_used(api: str) -> None:
    async def main() -> tuple[str, str]:
        # Kept longer than the server keeps it: the server's close is seen and a new
        # connection opened, the submit unaffected.
        client = HttpClient(api, 2, keepalive_expiry=30)
        sender = HttpSender(api, 2)
        sender._http = client
        first = await sender.submit(ECHO)
        await asyncio.sleep(2.0)
        second = await sender.submit(ECHO)
        await sender.close()
        return first, second

    first, second = asyncio.run(main())
    assert first != second


def test_an_invalid_submit_fails_with_the_apis_reason(api: str) -> None:
    async def main() -> None:
        sender = HttpSender(api, 2)
        try:
            with pytest.raises(SubmitFailed) as failed:
                # Past the scenario's own validation, as a changed API limit would be.
                await sender.submit(TaskKind.model_construct(task_type="echo", priority=10**6))
            assert str(failed.value).startswith("422 "), failed.value
            assert "priority" in str(failed.value), failed.value
        finally:
            await sender.close()

    asyncio.run(main())


def test_batches_and_long_polls(api: str) -> None:
    async def main() -> None:
        sender = HttpSender(api, 2)
        ids = await sender.submit_many([ECHO] * 3)
        assert len(set(ids)) == 3
        await sender.wait(ids[0], 0.2)  # answered (done or not) within the wait
        await sender.close()

    asyncio.run(main())


def test_the_key_goes_with_every_request(redis_server: RedisServer, tmp_path: Path) -> None:
    key = "lab-test-key-0123456789"
    env = {"TASKQ_API_KEYS": f"{key}:submit+read"}
    with running_api(redis_server.url, tmp_path / "api.log", env) as url:

        async def main() -> None:
            sender = HttpSender(url, 2, key)
            await sender.submit(ECHO)
            await sender.close()
            anonymous = HttpSender(url, 2)
            with pytest.raises(SubmitFailed, match=r"^401 "):
                await anonymous.submit(ECHO)
            await anonymous.close()

        asyncio.run(main())


def test_redis_down_is_unavailable_with_retry_after(tmp_path: Path) -> None:
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log") as url:
        server.stop()

        async def main() -> None:
            sender = HttpSender(url, 2)
            with pytest.raises(Refused) as refused:
                await sender.submit(ECHO)
            assert (refused.value.status, refused.value.retry_after_seconds) == ("unavailable", 1)
            await sender.close()

        asyncio.run(main())


def test_a_refused_connection_is_unavailable() -> None:
    async def main() -> None:
        sender = HttpSender(f"http://127.0.0.1:{free_port()}", 2)
        with pytest.raises(Refused) as refused:
            await sender.submit(ECHO)
        assert refused.value.status == "unavailable"
        await sender.close()

    asyncio.run(main())


# A scripted server: each connection answers its requests with the next replies of its
# script (bytes), or closes when the script says None.
Script = list[bytes | None]


def reply(status: str, body: bytes = b"{}", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
    return head.encode() + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


OK = reply("202 Accepted", b'{"id": "t1"}')


async def scripted(scripts: list[Script], body: Callable[[str], Awaitable[None]]) -> list[int]:
    """Runs ``body(url)`` against a server whose n-th connection follows ``scripts[n]``;
    returns how many requests each connection read."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script = scripts[len(served)]
        served.append(0)
        n = len(served) - 1
        for answer in script:
            head = await reader.readuntil(b"\r\n\r\n")
            length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")]
            if length:
                await reader.readexactly(int(length[0].split(b":")[1]))
            served[n] += 1
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await body(f"http://127.0.0.1:{port}")
    return served


def test_refusals_map_to_refused_with_retry_after() -> None:
    async def body(url: str) -> None:
        sender = HttpSender(url, 1)
        with pytest.raises(Refused) as refused:
            await sender.submit(ECHO)
        assert (refused.value.status, refused.value.retry_after_seconds) == ("rejected", 3.0)
        with pytest.raises(Refused) as refused:
            await sender.submit(ECHO)
        assert (refused.value.status, refused.value.retry_after_seconds) == ("unavailable", 1.0)
        with pytest.raises(SubmitFailed, match=r"^500 Oops: it broke$"):
            await sender.submit(ECHO)
        with pytest.raises(SubmitFailed, match=r"^502 Bad Gateway$"):
            await sender.submit(ECHO)  # not problem+json: the reason phrase
        await sender.close()

    script: Script = [
        reply("429 Too Many Requests", extra="Retry-After: 3\r\n"),
        reply("503 Service Unavailable"),
        reply("500 Internal Server Error", b'{"title": "Oops", "detail": "it broke"}'),
        reply("502 Bad Gateway", b"<html>"),
    ]
    assert asyncio.run(scripted([script], body)) == [4]


def test_a_request_on_a_connection_closing_as_it_was_sent_is_resent_once() -> None:
    # The second request meets a connection the server closes without replying (as a
    # server does whose idle timeout fired just then): resent on a fresh connection.
    async def body(url: str) -> None:
        sender = HttpSender(url, 1)
        assert await sender.submit(ECHO) == "t1"
        assert await sender.submit(ECHO) == "t1"
        await sender.close()

    assert asyncio.run(scripted([[OK, None], [OK]], body)) == [2, 1]


def test_a_reply_cut_off_midway_is_not_resent() -> None:
    async def body(url: str) -> None:
        sender = HttpSender(url, 1)
        assert await sender.submit(ECHO) == "t1"
        with pytest.raises(ConnectionClosed):
            await sender.submit(ECHO)
        await sender.close()

    assert asyncio.run(scripted([[OK, OK[:20]]], body)) == [2]


def test_a_fresh_connection_closed_without_reply_is_not_resent() -> None:
    async def body(url: str) -> None:
        sender = HttpSender(url, 1)
        with pytest.raises(ConnectionClosed):
            await sender.submit(ECHO)
        await sender.close()

    assert asyncio.run(scripted([[None]], body)) == [1]


def test_no_reply_within_the_timeout() -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers; until the client gives up
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            client = HttpClient(f"http://127.0.0.1:{port}", 1, timeout=0.3)
            with pytest.raises(TimeoutError):
                await client.get("/slow")
            assert client.connections == 0
            await client.aclose()

    asyncio.run(main())


def test_each_kind_is_encoded_as_itself() -> None:
    # Kinds are encoded once and looked up by identity: seeded copies (new objects, some
    # at the address of a freed one) must each carry their own seed.
    from lab.run.generator import seeded

    io = TaskKind(task_type="io", payload={"ms": 1})
    sender = HttpSender("http://127.0.0.1:1", 1, "k")
    for seq in range(200):
        kind = seeded(io, 7, seq)
        request = sender._request(kind)
        head, body = request.split(b"\r\n\r\n")
        assert b"Authorization: Bearer k\r\n" in head
        assert head.endswith(b"\r\nContent-Length: %d" % len(body))
        assert json.loads(body) == {"task_type": "io", "payload": kind.payload, "priority": 0}
    assert sender._request(ECHO) is sender._request(ECHO)
