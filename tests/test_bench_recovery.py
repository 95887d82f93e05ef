"""``bench.recovery``'s core at a tiny size against this tree: one SIGKILL of a worker that
holds tasks, nothing lost, a recovery time measured. Bounds are wide (a loaded 2-core
machine); the benchmark itself is what measures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.recovery import measure


@pytest.mark.slow
def test_recovery_bench_runs_and_loses_nothing(redis_url: str, tmp_path: Path) -> None:
    # -c 2: 200 tasks of 50 ms are 5 s of work for 2 workers, so the kill finds work.
    r = measure(redis_url, n=200, kills=1, concurrency=2, log_dir=tmp_path, timeout=90)
    assert r["kills"] == 1
    assert r["held_at_kills"] > 0
    assert r["lost"] == 0, r["states"]
    assert r["extra_starts"] <= r["held_at_kills"]
    assert r["recovery_s"] is not None and 0 < r["recovery_s"] < 60
    assert r["redelivered_s"] is not None and 0 < r["redelivered_s"] < 60
