"""Run the benchmark: ``python -m bench.run [--n 20000] [--systems a,b] [--quick] [--out F]``.

One private Redis for the whole run; every system is measured in turn on it, with a
FLUSHALL of that server (and only that one) before each measurement. Prints a table
(and taskq's ratios when taskq is measured) and writes a JSON result file. A failed
measurement is printed with its traceback, recorded in the JSON, shown as ERROR in the
table, and makes the exit status 1; the other measurements still run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import redis

from bench import _proc, counter, harness, report
from bench._redis import private_redis, server_version
from bench.systems import BenchSystem, available, load

DEFAULT_N = 20_000
QUICK_N = 2_000
DEFAULT_RT_N = 500
QUICK_RT_N = 100
PROCESS_COUNTS = (1, 2)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop processes


class Runner:
    def __init__(self, url: str, n: int, rt_n: int) -> None:
        self.url, self.n, self.rt_n = url, n, rt_n
        self.client = redis.Redis.from_url(url)
        self.failed = False

    def _fresh(self) -> None:
        self.client.flushall()  # the benchmark's private server only (see bench._redis)
        left = _proc.untracked_children()
        if left:
            raise RuntimeError(f"stray child processes before a measurement: {left}")

    def _measure(
        self, what: str, errors: dict[str, str], key: str | tuple[str, ...], fn: Callable[[], Any]
    ) -> Any:
        self._fresh()
        t0 = time.monotonic()
        try:
            return fn()
        except Exception as exc:  # recorded, printed, and fails the run at the end
            self.failed = True
            msg = f"{type(exc).__name__}: {exc}"
            for k in (key,) if isinstance(key, str) else key:
                errors[k] = msg.splitlines()[0][:300]
            _log(f"{what} FAILED after {time.monotonic() - t0:.1f}s:\n{traceback.format_exc()}")
            return None
        finally:
            _proc.reap_orphans()

    def system(self, s: BenchSystem) -> dict[str, Any]:
        n = self.n
        res: dict[str, Any] = {
            "n": n,
            "rt_n": self.rt_n,
            "bulk_api": s.bulk_api,
            "versions": s.versions(),
            "errors": {},
            "variants": {},
        }

        dt = self._measure(
            f"{s.name} enqueue_one",
            res["errors"],
            "enqueue_one",
            lambda: s.enqueue_one(self.url, n),
        )
        if dt is not None:
            res["enqueue_one"] = {"n": n, "seconds": dt, "rate_per_s": n / dt}
            _log(f"{s.name} enqueue one-by-one n={n}: {n / dt:,.0f}/s ({dt:.2f}s)")
        dt = self._measure(
            f"{s.name} enqueue_bulk",
            res["errors"],
            "enqueue_bulk",
            lambda: s.enqueue_bulk(self.url, n),
        )
        if dt is not None:
            res["enqueue_bulk"] = {"n": n, "seconds": dt, "rate_per_s": n / dt}
            _log(f"{s.name} enqueue bulk n={n}: {n / dt:,.0f}/s ({dt:.2f}s)")
        elif s.bulk_api is None:
            _log(f"{s.name} enqueue bulk: n/a (no bulk API)")

        for v in s.variants:
            vres: dict[str, Any] = {
                "description": v.description,
                "in_ratios": v.in_ratios,
                "drain": {},
                "errors": {},
            }
            res["variants"][v.name] = vres
            dn = min(n, v.max_drain_n) if v.max_drain_n else n
            if dn != n:
                _log(f"{s.name}/{v.name}: drain uses n={dn} (slow variant), not {n}")
            for p in PROCESS_COUNTS:
                d = self._measure(
                    f"{s.name}/{v.name} drain {p}p",
                    vres["errors"],
                    f"drain_{p}",
                    lambda p=p, v=v, dn=dn: s.drain(self.url, dn, p, v),
                )
                if d is not None:
                    vres["drain"][str(p)] = d.as_dict()
                    _log(
                        f"{s.name}/{v.name} drain n={dn} procs={p}: {d.rate:,.0f}/s (first->last "
                        f"{d.first_to_last_s:.2f}s, start-up {d.spawn_to_first_s:.2f}s)"
                    )
            lat = self._measure(
                f"{s.name}/{v.name} roundtrip",
                vres["errors"],
                ("rt_p50_ms", "rt_p99_ms"),
                lambda v=v: s.roundtrip(self.url, self.rt_n, v),
            )
            if lat is not None:
                if len(lat) != self.rt_n:
                    raise RuntimeError(f"{s.name} roundtrip returned {len(lat)} samples")
                vres["roundtrip"] = report.latency_summary(lat)
                _log(
                    f"{s.name}/{v.name} round-trip n={self.rt_n}: "
                    f"p50 {vres['roundtrip']['p50_ms']:.2f} ms, "
                    f"p99 {vres['roundtrip']['p99_ms']:.2f} ms"
                )
        return res


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--n", type=int, help=f"tasks per measurement (default {DEFAULT_N}, --quick {QUICK_N})"
    )
    ap.add_argument(
        "--rt-n",
        type=int,
        help=f"round-trips per variant (default {DEFAULT_RT_N}, --quick {QUICK_RT_N})",
    )
    ap.add_argument("--systems", help=f"comma-separated, default all available: {available()}")
    ap.add_argument("--quick", action="store_true", help="smoke run with small n")
    ap.add_argument("--out", type=Path, help="result JSON (default bench/results/<UTC time>.json)")
    args = ap.parse_args(argv)

    n = args.n or (QUICK_N if args.quick else DEFAULT_N)
    rt_n = args.rt_n or (QUICK_RT_N if args.quick else DEFAULT_RT_N)
    if n < 2 or rt_n < 1:
        ap.error("--n must be >= 2 and --rt-n >= 1")
    names = args.systems.split(",") if args.systems else available()
    unknown = [x for x in names if x not in available()]
    if unknown:
        ap.error(f"unknown or unavailable systems {unknown}; available: {available()}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or harness.REPO_ROOT / "bench" / "results" / f"{stamp}.json"
    harness.set_log_dir(out.parent / f"{out.stem}-logs")
    signal.signal(signal.SIGTERM, _on_sigterm)

    started = time.monotonic()
    doc: dict[str, Any] = {
        "params": {
            "n": n,
            "rt_n": rt_n,
            "quick": args.quick,
            "systems": names,
            "process_counts": list(PROCESS_COUNTS),
            "warmup_roundtrips": harness.WARMUP,
        },
        "machine": report.machine_info(server_version()),
        "results": {},
    }
    _log(f"n={n} rt_n={rt_n} systems={names}; worker logs in {harness.log_dir()}")
    runner: Runner | None = None
    try:
        with private_redis() as server:
            os.environ[counter.URL_ENV] = server.url
            _log(f"private redis at {server.url} (pid {server.pid})")
            runner = Runner(server.url, n, rt_n)
            for name in names:
                try:
                    system = load(name)
                except Exception as exc:
                    runner.failed = True
                    _log(f"{name}: cannot load:\n{traceback.format_exc()}")
                    doc["results"][name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                    continue
                t0 = time.monotonic()
                doc["results"][name] = runner.system(system)
                doc["results"][name]["wall_seconds"] = time.monotonic() - t0
                _write(out, doc)
            gc.collect()  # finalise client objects (e.g. Celery AsyncResult) while Redis is up
            runner.client.close()
    finally:
        _proc.stop_all()
    doc["wall_seconds"] = time.monotonic() - started
    doc["ratios"] = report.ratios(doc["results"])
    _write(out, doc)

    print()
    print(
        f"n={n} tasks per measurement, {rt_n} round-trips per variant; "
        f"{doc['machine']['cpu_model']}, {doc['machine']['cpus_usable']} CPUs; "
        f"{doc['machine']['date_utc']}"
    )
    print(report.table(doc["results"]))
    if doc["ratios"]:
        print()
        print(report.ratio_table(doc["ratios"]))
    print(f"\nresults: {out}  (wall {doc['wall_seconds']:.0f}s)")
    return 1 if runner is None or runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
