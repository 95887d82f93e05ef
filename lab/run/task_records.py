"""The tasks table: every task's record read from Redis at the end of a run, joined with
the load generator's submissions into the rows of ``tasks.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from lab.run.generator import Submission
from system.core.keys import queue_keys, queue_of

FETCH_CHUNK = 1000


def fetch_records(redis_url: str, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every task's hash, pipelined in chunks (one round trip per chunk)."""
    out: dict[str, dict[str, Any]] = {}
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        for start in range(0, len(task_ids), FETCH_CHUNK):
            chunk = task_ids[start : start + FETCH_CHUNK]
            pipe = r.pipeline(transaction=False)
            for task_id in chunk:
                pipe.hgetall(queue_keys(queue_of(task_id)).task(task_id))
            out.update(zip(chunk, pipe.execute(), strict=True))
    return out


def _s(ms: str | None) -> float | None:
    return int(ms) / 1000 if ms else None


def task_rows(
    subs: Sequence[Submission],
    records: dict[str, dict[str, Any]],
    kinds: Sequence[str],
    t0_s: float,
) -> list[dict[str, Any]]:
    """One row per submission: the generator's view joined with the task's record.
    Times are seconds from the start of the load; latency is finished - intended."""

    def rel(t: float | None) -> float | None:
        return None if t is None else t - t0_s

    rows = []
    for sub in subs:
        h = records.get(sub.task_id or "", {})
        finished = _s(h.get("finished_ms"))
        state = h.get("state") or ("missing" if sub.status == "accepted" else "")
        rows.append(
            {
                "seq": sub.seq,
                "task_id": sub.task_id or "",
                "task_type": kinds[sub.kind],
                "intended_s": rel(sub.intended_s),
                "sent_s": rel(sub.sent_s),
                "acked_s": rel(sub.acked_s),
                "send_lag_s": None if sub.sent_s is None else sub.sent_s - sub.intended_s,
                "submit": sub.status,
                "refusals": sub.refusals,
                "refused_429": sub.refused_429,
                "refused_503": sub.refused_503,
                "capped": int(sub.capped),
                "state": state,
                "attempts": int(h.get("attempts", 0)),
                "worker": h.get("worker", ""),
                # An absent eligible_ms means "when created" (the queue stores no default).
                "eligible_s": rel(_s(h.get("eligible_ms") or h.get("created_ms"))),
                "started_s": rel(_s(h.get("started_ms"))),
                "finished_s": rel(finished),
                "latency_s": None if finished is None else finished - sub.intended_s,
                "error": h.get("error") or sub.error or "",
            }
        )
    return rows
