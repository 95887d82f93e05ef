"""Script calls sent as a stream: each call goes out on one connection as soon as it is
made and the replies are read after the last, so Python makes the next call while Redis
runs the one before (a bulk submit's chunks). The blocking client's ``ScriptLane.stream``
and the asyncio client's ``stream_async`` share what is here, so both answer alike:

- a call refused with NOSCRIPT did not run: it is run again once its script is loaded;
- any other error reply is raised after every reply was read (the calls after it did
  run, as in any pipeline);
- a connection error closes the connection and is raised, with nothing sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import hiredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from system.core.ops import Call

Packer = Callable[[str, Call[Any]], list[bytes]]


def packer(conn: Any) -> Packer:
    """EVALSHA of a call, packed for ``conn``: by hiredis at once when the connection
    encodes as hiredis does (UTF-8, strict), not through redis-py's encoder, whose
    Python code per argument made packing a bulk chunk 4-6 us a task (3 arguments
    each) against under 1 us."""
    encoder = conn.encoder
    if encoder.encoding.lower() in ("utf-8", "utf8") and encoder.encoding_errors == "strict":
        pack: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command  # stubs: 1-tuple
        return lambda sha, c: [pack(("EVALSHA", sha, len(c.keys), *c.keys, *c.args))]
    return lambda sha, c: conn.pack_command("EVALSHA", sha, len(c.keys), *c.keys, *c.args)


def not_run(replies: Sequence[Any]) -> list[int]:
    """Positions of the calls refused with NOSCRIPT (to run again)."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def parsed(sent: Sequence[Call[Any]], replies: Sequence[Any]) -> list[Any]:
    """Raise the first error reply, if any; else each call's parsed reply."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return [call.parse(reply) for call, reply in zip(sent, replies, strict=True)]


async def stream_async(
    redis: Any, scripts: Mapping[str, AsyncScript], calls: Iterable[Call[Any]]
) -> list[Any]:
    """``ScriptLane.stream`` for an asyncio client (not a cluster, nor one with a single
    connection): on one connection of its pool, taken for the stream."""
    pool = redis.connection_pool
    conn = await pool.get_connection()
    sent: list[Call[Any]] = []
    replies: list[Any] = []
    try:
        pack = packer(conn)
        for call in calls:
            command = pack(scripts[call.script].sha, call)
            await conn.send_packed_command(command, check_health=not sent)
            sent.append(call)
        for _ in sent:
            try:
                replies.append(await conn.read_response())
            except ResponseError as error:
                replies.append(error)
    except BaseException:
        await conn.disconnect()  # replies may be left unread on it
        raise
    finally:
        await pool.release(conn)
    for i in not_run(replies):
        call = sent[i]
        replies[i] = await scripts[call.script](keys=call.keys, args=call.args)  # loads it
    return parsed(sent, replies)
