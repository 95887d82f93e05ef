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

Scripts answer with negative integer codes from ``ScriptCode`` (each script's reply enum in
``system.core.ops`` takes its negative members from it); ``system.core.ops`` turns a reply
into a typed result, or into the exception its code stands for.
"""

from __future__ import annotations

from enum import IntEnum


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


class InvalidSubmission(TaskqError, ValueError):
    """A submission that cannot be accepted (bad priority, payload too large, ...)."""
