"""The asyncio client's path for script calls: one connection kept aside, pipelined.

Through redis-py, every script call of an asyncio client takes a connection from the
pool and gives it back, arms a timeout for the reply, encodes each argument through the
client's encoder and makes a socket write of its own. Sampled in the API under load, the
lane cut the CPU of a ``POST /tasks/`` by about a third. The lane sends the calls of every
coroutine on one connection instead:

- a call is packed (by hiredis: ``streaming.packer``) and queued; the calls made in one
  turn of the event loop go out in one write, and Redis answers them in order (RESP is
  ordered per connection);
- one reader task feeds what arrives to a hiredis reader and hands each reply to the
  oldest waiting call; an error reply is raised as redis-py would raise it (the same
  exception classes: NOSCRIPT, OOM, READONLY, NOPERM ...);
- the reply timeout is the connection's ``socket_timeout``, checked by one timer for the
  oldest call waiting: when it passes, the connection is closed and every call on it
  fails with ``TimeoutError`` (a reply that came later could not be told from the next);
- a lost connection fails every call on it with ``ConnectionError``; the next call opens
  it again (with redis-py's handshake: password, database, client name);
- a call is retried under the connection's retry policy, as redis-py does;
- NOSCRIPT (the server lost its script cache) loads the script and runs the call again.

A call whose caller is cancelled still has its reply read, so the replies stay in order.
Scripts never block, so one connection holds no call up behind a slow one longer than
Redis itself, which runs one command at a time, would. Not for Redis Cluster, RESP3 or
a single-connection client: those take redis-py's path (``usable``).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, NoScriptError, TimeoutError

from system.client.streaming import packer
from system.core.ops import Call

_MORE = object()  # hiredis: a reply is not complete yet
_READ_SIZE = 65536


def usable(redis: Any) -> bool:
    """Whether the lane can carry this client's script calls."""
    if type(redis) is not Redis or redis.single_connection_client:
        return False
    kwargs = redis.connection_pool.connection_kwargs
    return str(kwargs.get("protocol") or 2) == "2"


class AsyncScriptLane:
    def __init__(self, redis: Any) -> None:
        self._pool = redis.connection_pool
        self._link: _Link | None = None
        self._opening: asyncio.Lock | None = None

    async def run(self, script: AsyncScript, call: Call[Any]) -> Any:
        link = self._live() or await self._open()
        packed = link.pack(script.sha, call)
        try:
            return await link.retry.call_with_retry(
                lambda: self._call(packed), lambda error: _nothing()
            )
        except NoScriptError:
            return await script(keys=call.keys, args=call.args)  # loads it, then again

    async def _call(self, packed: list[bytes]) -> Any:
        link = self._live() or await self._open()
        return await link.call(packed)

    def _live(self) -> _Link | None:
        """The link, if it can carry a call now: open, and made in this process (not in
        a fork's parent). Like redis-py's connections, it serves one event loop."""
        link = self._link
        return None if link is None or link.closed or link.pid != os.getpid() else link

    async def _open(self) -> _Link:
        """The live link, or a new one (one coroutine connects; the others wait for it)."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if (live := self._live()) is not None:
                return live
            old = self._link
            if old is not None and old.pid == os.getpid():
                conn = old.conn  # the link was lost: the same connection, connected again
                await conn.disconnect()
            else:  # none yet, or a fork's parent's
                self._link = None
                conn = await self._pool.get_connection()
            try:
                await conn.connect()  # the handshake (password, database, name)
            except BaseException:
                await conn.disconnect()
                if self._link is None:
                    await self._pool.release(conn)
                raise
            self._link = _Link(conn)
            return self._link

    async def close(self) -> None:
        """Close the lane's connection and give it back to the pool."""
        link, self._link = self._link, None
        if link is not None and link.pid == os.getpid():
            link.fail(ConnectionError("the client was closed"))
            await link.conn.disconnect()
            await self._pool.release(link.conn)


async def _nothing() -> None:
    """redis-py's retry calls this between attempts; the link closed itself already."""


class _Link:
    """One connected connection and the calls waiting on it, oldest first."""

    def __init__(self, conn: Any) -> None:
        reader, writer = conn._reader, conn._writer  # redis-py's streams, after connect()
        if reader is None or writer is None:
            raise ConnectionError("the connection has no streams after connecting")
        self.conn = conn
        self.pid = os.getpid()
        self.loop = asyncio.get_running_loop()  # the event loop the link serves
        self.retry = conn.retry
        self.pack = packer(conn)
        self.closed = False
        self._writer = writer
        self._timeout: float | None = conn.socket_timeout
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._outgoing: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        encoder = conn.encoder
        options: dict[str, Any] = {
            "replyError": conn._parser.parse_error,
            "notEnoughData": _MORE,
        }
        if encoder.decode_responses:
            options.update(encoding=encoder.encoding, errors=encoder.encoding_errors)
        self._parser = hiredis.Reader(**options)
        self._reading = asyncio.ensure_future(self._read(reader))

    def call(self, packed: list[bytes]) -> asyncio.Future[Any]:
        if self.closed:
            raise ConnectionError("the connection to Redis was lost")
        future: asyncio.Future[Any] = self.loop.create_future()
        self._waiting.append((future, self.loop.time()))
        if not self._outgoing:
            self.loop.call_soon(self._flush)
        self._outgoing += packed
        if self._timer is None and self._timeout is not None:
            self._timer = self.loop.call_later(self._timeout, self._check_timeout)
        return future

    def _flush(self) -> None:
        if self.closed or not self._outgoing:
            return
        data, self._outgoing = self._outgoing, []
        try:
            self._writer.write(data[0] if len(data) == 1 else b"".join(data))
        except (OSError, RuntimeError) as exc:  # uvloop: "the handler is closed"
            self.fail(ConnectionError(f"Error writing to Redis: {exc}"))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser, waiting = self._parser, self._waiting
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    raise ConnectionError("Connection closed by server.")
                parser.feed(data)
                while (reply := parser.gets()) is not _MORE:
                    future = waiting.popleft()[0]
                    if future.done():  # its caller gave up; the reply is read all the same
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            lost = exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc))
            self.fail(lost)

    def _check_timeout(self) -> None:
        self._timer = None
        if self.closed or not self._waiting or self._timeout is None:
            return
        sent = self._waiting[0][1]
        if self.loop.time() - sent >= self._timeout:
            self.fail(TimeoutError("Timeout reading from Redis"))
        else:
            self._timer = self.loop.call_at(sent + self._timeout, self._check_timeout)

    def fail(self, error: Exception) -> None:
        """Close the link: every waiting call fails with ``error``."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._reading is not asyncio.current_task():
            self._reading.cancel()
        self._writer.close()
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():  # an exception of its own: each is raised in its caller
                future.set_exception(type(error)(*error.args))
