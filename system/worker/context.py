"""The task a handler is running, for handlers that need more than their payload.

``current_task()`` works in async and thread handlers (the executor sets a ContextVar and
copies the context into the pool thread). Process handlers run in another process and
see ``None``; the cancel flag cannot be shared with them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


class CancelFlag:
    """A set-once flag with threading.Event's ``set``/``is_set``: a plain attribute, so
    creating one per task costs next to nothing (an Event builds a Condition and a lock).
    Reading it from a pool thread is safe: a bool store is atomic under the GIL."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@dataclass(slots=True)
class TaskContext:
    task_id: str
    queue: str
    task_type: str
    attempt: int  # 1 on the first run
    # Set when the task should stop: cancelled while running, timed out, its lease lost,
    # or the worker shutting down. Thread handlers poll it; async ones are cancelled.
    cancel_event: CancelFlag = field(default_factory=CancelFlag)


current_task_var: ContextVar[TaskContext | None] = ContextVar("taskq_current_task", default=None)


def current_task() -> TaskContext | None:
    """The running task's context, or None outside a handler (and in process handlers)."""
    return current_task_var.get()


def cancel_requested() -> bool:
    """True once the running task should stop; long thread handlers check it in loops."""
    ctx = current_task_var.get()
    return ctx is not None and ctx.cancel_event.is_set()
