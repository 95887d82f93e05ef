"""The blocking client's path for script calls: one connection of its pool kept aside.

Taking a connection from a redis-py pool and giving it back (a lock, a poll for stale
data, two list moves) costs about as much as the rest of redis-py's work on one EVALSHA;
for a single submit, that is a tenth of the call. The lane keeps one connection and does
what redis-py does per command, minus what a held connection does not need:

- one thread at a time: a thread that finds the lane busy takes the ordinary path;
- before each use, the pool's own check: a connection with something to read (the
  server closed it, or a reply nobody read) is reconnected first; after a fork the
  child takes a connection of its own;
- the connection's retry policy and error handling as redis-py's ``_execute_command``
  (a failed connection is closed; retried only where the policy says so);
- NOSCRIPT (the server lost its script cache) loads the script and runs it again.

Not for Redis Cluster or a single-connection client: those take redis-py's path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from redis.commands.core import Script
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from system.client.streaming import not_run, packer, parsed
from system.core.ops import Call


class ScriptLane:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._pool = redis.connection_pool
        self._lock = threading.Lock()
        self._conn: Any = None

    def run(self, script: Script, call: Call[Any]) -> Any:
        try:
            return self._evalsha(script.sha, call)
        except NoScriptError:
            return script(keys=call.keys, args=call.args)  # loads it, then EVALSHA again

    def _evalsha(self, sha: str, call: Call[Any]) -> Any:
        if not self._lock.acquire(blocking=False):
            keys = call.keys
            return self._redis.execute_command("EVALSHA", sha, len(keys), *keys, *call.args)
        try:
            conn = self._connection()
            packed = packer(conn)(sha, call)
            return conn.retry.call_with_retry(
                lambda: self._send(conn, packed), lambda error: _disconnect_raise(conn, error)
            )
        finally:
            self._lock.release()

    def stream(self, scripts: Mapping[str, Script], calls: Iterable[Call[Any]]) -> list[Any]:
        """Run script calls on the kept connection as a stream (``system.client.streaming``:
        each sent as soon as ``calls`` yields it, the replies read after the last); their
        parsed replies, in order."""
        with self._lock:
            conn = self._connection()
            sent: list[Call[Any]] = []
            replies: list[Any] = []
            try:
                pack = packer(conn)
                for call in calls:
                    command = pack(scripts[call.script].sha, call)
                    conn.send_packed_command(command, check_health=not sent)
                    sent.append(call)
                for _ in sent:
                    try:
                        replies.append(conn.read_response())
                    except ResponseError as error:
                        replies.append(error)
            except BaseException:
                conn.disconnect()  # replies may be left unread on it
                raise
        for i in not_run(replies):
            call = sent[i]
            replies[i] = self.run(scripts[call.script], call)
        return parsed(sent, replies)

    def _connection(self) -> Any:
        conn = self._conn
        if conn is None or conn.pid != os.getpid():
            conn = self._conn = self._pool.get_connection()
        else:
            try:
                stale = conn.can_read()  # data nobody asked for
            except (ConnectionError, TimeoutError, OSError):  # the server closed it
                stale = True
            if stale:
                conn.disconnect()  # the next send connects again
        return conn

    @staticmethod
    def _send(conn: Any, packed: Any) -> Any:
        conn.send_packed_command(packed)
        return conn.read_response()

    def close(self) -> None:
        """Give the connection back to the pool (before the pool is closed)."""
        with self._lock:
            if self._conn is not None and self._conn.pid == os.getpid():
                self._pool.release(self._conn)
            self._conn = None


def _disconnect_raise(conn: Any, error: BaseException) -> None:
    """As redis-py's ``Redis._disconnect_raise``: close the connection, and raise unless
    the connection's policy retries this kind of error."""
    conn.disconnect()
    retry_on = conn.retry_on_error
    if retry_on is None or not isinstance(error, tuple(retry_on)):
        raise error
