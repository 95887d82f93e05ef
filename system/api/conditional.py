"""Conditional GET: every successful GET answer carries an ``ETag`` (a hash of its body),
and a request whose ``If-None-Match`` names it gets ``304 Not Modified`` without the body.

A poller (the console at ``/ui`` polls every second) then receives a few hundred bytes
instead of the whole document while nothing changed, and knows without comparing that
nothing did. The answer is still computed: this saves transfer and the client's work, not
the server's Redis reads.

Pure ASGI middleware: the response of a GET with status 200 is held until its last body
message (the API's answers are single JSON documents, so nothing is streamed), then sent
with its ETag, or replaced by the 304. Other methods and statuses pass through untouched.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Headers a 304 repeats from the 200 it stands for (RFC 9110, section 15.4.5).
_KEPT_ON_304 = (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary")


def etag_of(body: bytes) -> str:
    """A strong validator: 128 bits of BLAKE2b over the exact bytes sent."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of ``etag`` with each entity tag of an If-None-Match."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1")
        start: Message | None = None
        chunks: list[bytes] = []

        async def holding_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    await send(message)  # not held: this answer passes through
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(raw=list(start["headers"]))
            etag = headers.get("etag") or etag_of(body)  # a route's own validator wins
            if if_none_match and matches(if_none_match, etag):
                kept = [(k, v) for k, v in start["headers"] if k.lower() in _KEPT_ON_304]
                not_modified = MutableHeaders(raw=kept)
                not_modified["etag"] = etag
                await send(
                    {"type": "http.response.start", "status": 304, "headers": not_modified.raw}
                )
                await send({"type": "http.response.body", "body": b""})
                return
            headers["etag"] = etag
            headers["content-length"] = str(len(body))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, holding_send)
