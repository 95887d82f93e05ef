"""The two enqueue columns of ``bench.run`` alone, every system in the same run, in rounds.

    .venv/bin/python -m bench.enqueue [--n 20000] [--rounds 3] [--systems a,b]
                                      [--taskq-from DIR ...]

Each measurement is ``enqueue_one`` and ``enqueue_bulk`` of ``bench/systems/<x>.py``
(exactly the columns of ``bench.run``), run in a fresh interpreter on one private Redis,
FLUSHALLed before each. Systems take turns within each round, so a change in the load on
the machine touches all of them alike; the table shows each system's best round and the
median. ``--taskq-from DIR`` adds taskq as it is in another checkout (``git worktree add``
or ``git archive`` of an older commit), labelled with the directory's name: a before and
after measured in one run. Minutes, not the ten of the full ``bench.run``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import redis

from bench import counter
from bench._redis import private_redis
from bench.systems import available

ROOT = Path(__file__).resolve().parent.parent
_MEASURE = """
import json, sys
from bench.systems import load
s = load(sys.argv[1])
url, n = sys.argv[2], int(sys.argv[3])
one = s.enqueue_one(url, n)
redis = __import__("redis").Redis.from_url(url)
redis.flushall()
bulk = s.enqueue_bulk(url, n)
print(json.dumps({"one": n / one, "bulk": None if bulk is None else n / bulk}))
"""


def _measure(name: str, checkout: Path, url: str, n: int) -> dict[str, float | None]:
    env = {**os.environ, "PYTHONPATH": str(checkout), counter.URL_ENV: url}
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, name, url, str(n)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{name} from {checkout}: {out.stderr.strip()[-2000:]}")
    result: dict[str, float | None] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _cell(rates: list[float | None]) -> str:
    got = [r for r in rates if r is not None]
    if not got:
        return "n/a"
    return f"{max(got):>9,.0f} ({statistics.median(got):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="tasks per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--systems", default=",".join(available()))
    parser.add_argument("--taskq-from", type=Path, action="append", default=[])
    args = parser.parse_args()
    runs = [(name, name, ROOT) for name in args.systems.split(",")]
    runs += [(f"taskq@{d.name}", "taskq", d.resolve()) for d in args.taskq_from]
    rates: dict[str, dict[str, list[float | None]]] = {
        label: {"one": [], "bulk": []} for label, _, _ in runs
    }
    with private_redis() as server:
        flush = redis.Redis.from_url(server.url)
        for r in range(args.rounds):
            for label, name, checkout in runs:
                flush.flushall()
                got = _measure(name, checkout, server.url, args.n)
                for column in ("one", "bulk"):
                    rates[label][column].append(got[column])
                print(f"round {r + 1} {label}: {got}", file=sys.stderr, flush=True)
    print(f"\nenqueue, n={args.n}, {args.rounds} rounds: best (median) tasks/s")
    print(f"{'system':<24}{'1-by-1 /s':>22}{'bulk /s':>22}")
    for label, columns in rates.items():
        print(f"{label:<24}{_cell(columns['one']):>22}{_cell(columns['bulk']):>22}")


if __name__ == "__main__":
    main()
