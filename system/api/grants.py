"""What an API key may do: its scopes and, optionally, the queues it may touch.

``TASKQ_API_KEYS`` is a comma-separated list of entries ``KEY[:SCOPES[:QUEUES]]``:

- ``KEY`` alone (the old form) may do everything;
- ``SCOPES`` is ``+``-separated from ``read`` (GET: tasks, queues, workers, breakers),
  ``submit`` (POST /tasks, /tasks/batch) and ``operate`` (cancel, pause, resume,
  dead-letter requeue); ``*`` is all three;
- ``QUEUES`` is ``+``-separated queue names; absent or ``*``: every queue.

``reporting-0123456789abcdef:read`` reads everything; ``ingest-0123456789abcdef:submit:
emails+reports`` only submits, to two queues. A key is at least ``MIN_KEY_LENGTH``
characters of ``A-Z a-z 0-9 - _ . ~`` (no ``:``, ``,`` or spaces).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from system.core.keys import is_queue_name

SCOPES = ("read", "submit", "operate")
MIN_KEY_LENGTH = 16
_KEY = re.compile(r"[A-Za-z0-9._~-]+")


class Forbidden(Exception):
    """The key is good but does not allow this (403)."""


@dataclass(frozen=True, slots=True)
class Grant:
    scopes: frozenset[str]
    queues: frozenset[str] | None  # None: every queue

    def require(self, scope: str, queues: Iterable[str] = ()) -> None:
        """``Forbidden`` unless this grant has ``scope`` on every one of ``queues``."""
        if scope not in self.scopes:
            raise Forbidden(
                f"this API key does not have the '{scope}' scope "
                f"(it has: {', '.join(sorted(self.scopes)) or 'none'})"
            )
        if self.queues is not None:
            outside = sorted(set(queues) - self.queues)
            if outside:
                raise Forbidden(
                    f"this API key may not touch queue {', '.join(map(repr, outside))} "
                    f"(it may: {', '.join(sorted(self.queues))})"
                )

    def sees(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


EVERYTHING = Grant(frozenset(SCOPES), None)


def _plus_list(text: str) -> list[str]:
    return [part.strip() for part in text.split("+") if part.strip()]


def parse_entry(entry: str) -> tuple[str, Grant]:
    """One ``KEY[:SCOPES[:QUEUES]]`` entry; ``ValueError`` naming what is wrong (never
    the key itself, which may be a real secret with a typo)."""
    key, _, rest = entry.strip().partition(":")
    scopes_text, _, queues_text = rest.partition(":")
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(
            f"an API key of {len(key)} characters: keys need at least {MIN_KEY_LENGTH}"
        )
    if not _KEY.fullmatch(key):
        raise ValueError("an API key has characters outside A-Z a-z 0-9 - _ . ~")
    scopes = _plus_list(scopes_text) if rest else ["*"]
    if scopes == ["*"]:
        scopes = list(SCOPES)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"API key scopes {', '.join(unknown) or '(none)'}: use {', '.join(SCOPES)} or *"
        )
    queues = _plus_list(queues_text)
    bad = [q for q in queues if q != "*" and not is_queue_name(q)]
    if bad:
        raise ValueError(f"API key queues {', '.join(map(repr, bad))} are not queue names")
    allowed = None if not queues or "*" in queues else frozenset(queues)
    return key, Grant(frozenset(scopes), allowed)
