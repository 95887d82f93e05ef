"""Limits of what one request, or many, may hold: the body (``BodyLimit``) and the long
polls waiting at once (``LongPolls``).

Request body limit: 413 without reading more than the limit, with or without a
Content-Length (a chunked body is counted as it arrives).

The body is read here, up to the limit, and then handed to the application unchanged.
(Raising from inside the application's reads would not work: FastAPI turns any error
while parsing a body into a 400.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from system.api.problems import TooManyLongPolls, problem


class LongPolls:
    """At most ``cap`` long polls at once (each holds a connection of its own while it
    waits); one more is refused with ``TooManyLongPolls`` (429), not left to fail later."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.waiting >= self.cap:
            raise TooManyLongPolls(self.cap)
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1


class BodyLimit:
    """413 past ``max_bytes``; 408 when the body has not all arrived ``timeout_seconds``
    after the headers (a client trickling a body in holds memory and a connection)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        buffered: list[Message] = []
        try:
            async with asyncio.timeout(self.timeout_seconds):
                too_big = await self._read(receive, buffered)
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout_seconds:g} s"
            response = problem(408, "Request timeout", detail, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        if too_big:
            await self._refuse(scope, receive, send)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, buffered: list[Message]) -> bool:
        """Buffer the body's messages; True as soon as it is over the limit."""
        size, more = 0, True
        while more:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: let the application see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return True
            more = message.get("more_body", False)
        return False

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over the limit of {self.max_bytes} bytes"
        response = problem(413, "Request body too large", detail, headers={"Connection": "close"})
        await response(scope, receive, send)
