"""An asyncio TCP proxy with a toxic chain per direction, as Toxiproxy has.

Each accepted connection becomes a ``Link`` to the upstream with two pipes: ``upstream``
(client to server) and ``downstream`` (server to client). A pipe's reader stamps each
chunk with its arrival time and queues it; its pump applies the proxy's *current* toxics of
that stream (toxics added or removed later act on open connections too), so latency counts
from arrival and does not pile up behind slow reads.

Toxicity is rolled once per connection and toxic, from a seeded generator. Disabling a
proxy closes its listener (new connections are refused) and every open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time

from lab.faults.toxiproxy.toxics import (
    Stream,
    Toxic,
    ToxicError,
    bandwidth_seconds,
    latency_seconds,
    slices,
)

CHUNK_BYTES = 32 * 1024
TICK_SECONDS = 0.1  # how often an idle pump looks at timeout / reset_peer toxics (their precision)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def parse_address(value: str, field: str, *, port_may_be_zero: bool) -> tuple[str, int]:
    """``host:port`` on loopback; anything else is refused (all traffic stays local)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ToxicError(f"bad request body: {field} must be host:port")
    port = int(port_text)
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ToxicError(f"bad request body: {field} must be on 127.0.0.1 (loopback only)")
    if port > 65535 or (port == 0 and not port_may_be_zero):
        raise ToxicError(f"bad request body: {field} has no valid port")
    return ("127.0.0.1" if host == "localhost" else host), port


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a peer that resets the connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Link:
    def __init__(
        self,
        proxy: Proxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        rng: random.Random,
    ) -> None:
        self.proxy = proxy
        self.client, self.upstream = client, upstream
        self.rng = rng
        self._affected: dict[str, bool] = {}  # toxic name -> toxicity roll
        self._since: dict[str, float] = {}  # toxic name -> when it first acted here
        self._sent = {"upstream": 0, "downstream": 0}
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()

    async def run(self) -> None:
        pipes: list[tuple[Stream, asyncio.StreamReader, asyncio.StreamWriter]] = [
            ("upstream", self.client[0], self.upstream[1]),
            ("downstream", self.upstream[0], self.client[1]),
        ]
        for stream, reader, writer in pipes:
            queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._read(reader, queue)))
            self._tasks.append(asyncio.create_task(self._pump(stream, queue, writer)))
        await self.closed.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self, *, reset: bool = False) -> None:
        for _, writer in (self.client, self.upstream):
            if reset:
                _reset(writer)
            else:
                writer.close()
        self.closed.set()

    async def _read(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        try:
            while data := await reader.read(CHUNK_BYTES):
                queue.put_nowait((time.monotonic(), data))
        except OSError:
            pass
        queue.put_nowait((time.monotonic(), b""))  # end of stream

    def _active(self, stream: Stream) -> list[Toxic]:
        out = []
        for toxic in self.proxy.toxics.values():
            if toxic.stream != stream:
                continue
            if toxic.name not in self._affected:
                self._affected[toxic.name] = self.rng.random() < toxic.toxicity
            if self._affected[toxic.name]:
                out.append(toxic)
        return out

    def _cut_by(self, toxics: list[Toxic]) -> bool:
        """Apply timeout / reset_peer; True while data must be dropped (timeout)."""
        now = time.monotonic()
        dropping = False
        for toxic in toxics:
            if toxic.type not in ("timeout", "reset_peer"):
                continue
            since = self._since.setdefault(toxic.name, now)
            limit_ms = toxic.attribute("timeout")
            due = (now - since) * 1000 >= limit_ms
            if toxic.type == "reset_peer" and due:
                self.close(reset=True)
            elif toxic.type == "timeout":
                dropping = True
                if limit_ms > 0 and due:
                    self.close()
        return dropping

    async def _pump(
        self,
        stream: Stream,
        queue: asyncio.Queue[tuple[float, bytes]],
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            while not self.closed.is_set():
                self._cut_by(self._active(stream))  # timeouts run out while idle too
                try:
                    arrived, data = await asyncio.wait_for(queue.get(), TICK_SECONDS)
                except TimeoutError:
                    continue
                toxics = self._active(stream)  # as they are now, not before the wait
                if not data:
                    await self._end(toxics)
                    return
                if self._cut_by(toxics):
                    continue  # a timeout toxic swallows the data
                await self._deliver(stream, toxics, arrived, data, writer)
        except (OSError, ConnectionError):
            self.close()

    async def _end(self, toxics: list[Toxic]) -> None:
        delay_ms = max((t.attribute("delay") for t in toxics if t.type == "slow_close"), default=0)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        self.close()

    async def _deliver(
        self,
        stream: Stream,
        toxics: list[Toxic],
        arrived: float,
        data: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        for toxic in toxics:
            if toxic.type == "latency":
                wait = arrived + latency_seconds(toxic, self.rng) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        limit = min((t.attribute("bytes") for t in toxics if t.type == "limit_data"), default=None)
        if limit is not None:
            data = data[: max(0, limit - self._sent[stream])]
        pieces = [data]
        for toxic in toxics:
            if toxic.type == "slicer":
                pieces = [s for p in pieces for s in slices(toxic, p, self.rng)]
        slice_delay = sum(t.attribute("delay") for t in toxics if t.type == "slicer") / 1e6
        for piece in pieces:
            for toxic in toxics:
                if toxic.type == "bandwidth":
                    await asyncio.sleep(bandwidth_seconds(toxic, len(piece)))
            writer.write(piece)
            await writer.drain()
            self._sent[stream] += len(piece)
            if slice_delay:
                await asyncio.sleep(slice_delay)
        if limit is not None and self._sent[stream] >= limit:
            self.close()


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen_host, self.listen_port = parse_address(listen, "listen", port_may_be_zero=True)
        self.upstream = upstream
        self._upstream = parse_address(upstream, "upstream", port_may_be_zero=False)
        self.rng = rng
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self._server: asyncio.Server | None = None
        self._links: set[Link] = set()

    @property
    def listen(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics.values()],
        }

    async def start(self) -> None:
        if self.enabled:
            return
        try:
            self._server = await asyncio.start_server(
                self._accept, self.listen_host, self.listen_port
            )
        except OSError as exc:
            raise ToxicError(f"listen {self.listen}: {exc.strerror}", 500) from exc
        # Port 0 asked for a free one: keep it, so a re-enabled proxy listens there again.
        self.listen_port = self._server.sockets[0].getsockname()[1]
        self.enabled = True

    async def stop(self) -> None:
        """Refuse new connections and close the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.close()
        self.enabled = False

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        host, port = parse_address(listen, "listen", port_may_be_zero=True)
        upstream_address = parse_address(upstream, "upstream", port_may_be_zero=False)
        if (host, port) != (self.listen_host, self.listen_port) or upstream != self.upstream:
            await self.stop()
            self.listen_host, self.listen_port = host, port
            self.upstream, self._upstream = upstream, upstream_address
        if enabled:
            await self.start()
        else:
            await self.stop()

    def add_toxic(self, toxic: Toxic) -> None:
        if toxic.name in self.toxics:
            raise ToxicError("toxic already exists", 409)
        self.toxics[toxic.name] = toxic

    def toxic(self, name: str) -> Toxic:
        if name not in self.toxics:
            raise ToxicError("toxic not found", 404)
        return self.toxics[name]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()  # upstream down: the client sees its connection closed
            return
        link = Link(self, (reader, writer), upstream, random.Random(self.rng.random()))
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)
