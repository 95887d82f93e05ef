"""One error hierarchy for the whole system.

    TaskqError
    ├── ConfigurationError          settings or environment cannot work
    │   ├── UnsafeRedisConfig       e.g. a maxmemory-policy that may evict task keys
    │   └── HandlerImportError      a --import module is missing (system.registry)
    ├── UnknownTaskType             no handler of that name (system.registry)
    ├── InvalidPayload              the payload fails its handler's model (system.registry)
    ├── TaskTimeout                 a handler overran its timeout (system.worker.executor)
    ├── RemoteTaskError             a process-mode handler raised (system.worker.executor)
    ├── InvalidSubmission           a submission that cannot be accepted (says which field)
    ├── TaskNotFound                no task with that id (never existed, or its result expired)
    ├── InvalidTaskId               the id is malformed (does not name a queue)
    ├── StaleLease                  a completion from a worker whose lease was lost (rejected)
    └── ScriptReplyError            a script answered with a code this client does not know

Scripts answer with negative integer codes from ``ScriptCode``; ``raise_for_code`` maps them.
"""

from __future__ import annotations

from enum import IntEnum


class ScriptCode(IntEnum):
    """Negative codes returned by the Lua scripts."""

    STALE_LEASE = -1
    TASK_NOT_FOUND = -2


class TaskqError(Exception):
    """Base of every error raised by taskq."""


class ConfigurationError(TaskqError):
    pass


class UnsafeRedisConfig(ConfigurationError):
    pass


class TaskNotFound(TaskqError, LookupError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id!r} (never submitted, or its result expired)")
        self.task_id = task_id


class InvalidTaskId(TaskqError, ValueError):
    pass


class StaleLease(TaskqError):
    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"lease on task {task_id!r} was lost (expired and reclaimed, or cancelled); "
            "the outcome was rejected"
        )
        self.task_id = task_id


class ScriptReplyError(TaskqError):
    pass


def raise_for_code(code: int, task_id: str) -> None:
    """Raise the typed error for a negative script code; return for success codes."""
    if code >= 0:
        return
    if code == ScriptCode.STALE_LEASE:
        raise StaleLease(task_id)
    if code == ScriptCode.TASK_NOT_FOUND:
        raise TaskNotFound(task_id)
    raise ScriptReplyError(f"unknown script code {code} for task {task_id!r}")


class InvalidSubmission(TaskqError, ValueError):
    """A submission that cannot be accepted (bad priority, payload too large, ...)."""
