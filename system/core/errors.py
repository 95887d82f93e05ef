"""One error hierarchy for the whole system: every exception taskq raises is defined here.

    TaskqError
    ├── ConfigurationError              settings or environment cannot work
    │   ├── UnsafeRedisConfig           e.g. a maxmemory-policy that may evict task keys
    │   ├── HandlerImportError          a --import module is missing (also ImportError)
    │   └── RedisBinaryNotFoundError    no server / redis-cli binary to start (also RuntimeError)
    ├── InvalidSubmission               a submission that cannot be accepted (says which field)
    ├── QueueFull                       a submit refused by back pressure (the API's 429)
    ├── UnknownTaskType                 no handler of that name (also KeyError)
    ├── InvalidPayload                  the payload fails its handler's model (also ValueError)
    ├── TaskNotFound                    no task with that id (never existed, or its result expired)
    ├── InvalidTaskId                   the id is malformed: it names no queue (also ValueError)
    ├── ScriptReplyError                a script answered with a code this client does not know
    ├── PermanentFailure                a task failure that retrying cannot fix (not retried)
    ├── TaskTimeout                     a handler overran its time limit (also TimeoutError)
    └── RemoteTaskError                 a process-mode handler raised (carries its traceback)

Handlers raise their own exceptions (the built-in ``flaky`` handler's ``FlakyError``, say);
the worker records them as the task's failure. Redis errors are redis-py's own.

Scripts answer with negative integer codes from ``ScriptCode`` (each script's reply enum in
``system.core.ops`` takes its negative members from it); ``system.core.ops`` turns a reply
into a typed result, or into the exception its code stands for.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pydantic import ValidationError


class ScriptCode(IntEnum):
    """Negative codes returned by the Lua scripts (declared in each as ``ScriptCode``)."""

    STALE_LEASE = -1  # the fencing token is not the task's current one
    TASK_NOT_FOUND = -2  # no record for that task id
    NOT_LEADER = -3  # the leader token is not the current leader's (promote, reap)


class TaskqError(Exception):
    """Base of every error raised by taskq."""


class ConfigurationError(TaskqError):
    pass


class UnsafeRedisConfig(ConfigurationError):
    pass


class HandlerImportError(ConfigurationError, ImportError):
    """A module named with ``--import`` could not be imported."""


class RedisBinaryNotFoundError(ConfigurationError, RuntimeError):
    """A server or ``redis-cli`` binary is missing (tests skip on this; other errors fail)."""


class InvalidSubmission(TaskqError, ValueError):
    """A submission that cannot be accepted (bad priority, payload too large, ...)."""


class QueueFull(TaskqError):
    """A submit refused by back pressure (429)."""

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class UnknownTaskType(TaskqError, KeyError):
    """No handler is registered under this task type."""

    def __init__(self, task_type: str, known: Iterable[str]) -> None:
        self.task_type = task_type
        self.known = sorted(known)
        super().__init__(
            f"unknown task type {task_type!r}: no handler registered "
            f"(known: {', '.join(self.known) or 'none'})"
        )

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class InvalidPayload(TaskqError, ValueError):
    """The payload does not fit the handler's model. ``errors`` holds pydantic's error
    details (JSON-compatible: loc, msg, type, input, ctx)."""

    def __init__(self, task_type: str, errors: list[dict[str, Any]]) -> None:
        self.task_type = task_type
        self.errors = errors
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'payload'}: {e.get('msg', '')}"
            for e in errors
        )
        super().__init__(f"invalid payload for {task_type!r}: {details}")

    @classmethod
    def from_validation_error(cls, task_type: str, exc: ValidationError) -> InvalidPayload:
        return cls(task_type, orjson.loads(exc.json(include_url=False)))


class TaskNotFound(TaskqError, LookupError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id!r} (never submitted, or its result expired)")
        self.task_id = task_id


class InvalidTaskId(TaskqError, ValueError):
    pass


class ScriptReplyError(TaskqError):
    pass


class PermanentFailure(TaskqError):
    """A failure that retrying cannot fix (unknown type, invalid payload, huge result)."""


class TaskTimeout(TaskqError, TimeoutError):
    """The handler did not finish within the task's time limit."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"no result within {timeout_seconds:g} s")
        self.timeout_seconds = timeout_seconds


class RemoteTaskError(TaskqError):
    """A process-mode handler raised; carries the child's exception type and traceback."""

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text


def is_permanent(exc: BaseException) -> bool:
    """A failure of the task itself, not of what it depends on: not retried, and not
    counted by a circuit breaker."""
    return isinstance(exc, PermanentFailure | InvalidPayload)
