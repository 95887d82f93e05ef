"""Result-file helpers: machine info, latency summary, the printed table and taskq ratios."""

from __future__ import annotations

import importlib.metadata as md
import math
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from bench.harness import REPO_ROOT

#: (key, header, higher is better)
COLUMNS: list[tuple[str, str, bool]] = [
    ("enqueue_one", "enqueue 1-by-1 /s", True),
    ("enqueue_bulk", "bulk /s", True),
    ("drain_1", "drain 1 proc /s", True),
    ("drain_2", "drain 2 procs /s", True),
    ("rt_p50_ms", "RT p50 ms", False),
    ("rt_p99_ms", "RT p99 ms", False),
]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(lat_s: list[float]) -> dict[str, Any]:
    ms = sorted(v * 1e3 for v in lat_s)
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": statistics.fmean(ms),
        "min_ms": ms[0],
        "samples_ms": [round(v * 1e3, 4) for v in lat_s],  # in measurement order
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()

    try:
        return {"sha": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": repr(exc)}


def machine_info(redis_version: str) -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for p in (
        "celery",
        "kombu",
        "billiard",
        "rq",
        "dramatiq",
        "arq",
        "redis",
        "hiredis",
        "orjson",
        "taskq",
    ):
        try:
            packages[p] = md.version(p)
        except md.PackageNotFoundError:
            packages[p] = None
    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "mem_total_mb": _mem_total_mb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "pythonpath": os.environ.get("PYTHONPATH"),
        "packages": packages,
        "redis_server": redis_version,
        "git": _git(),
    }


def row_values(system: dict[str, Any], variant: dict[str, Any]) -> dict[str, float | None]:
    def rate(m: dict[str, Any] | None) -> float | None:
        return m.get("rate_per_s") if m else None

    rt = variant.get("roundtrip")
    return {
        "enqueue_one": rate(system.get("enqueue_one")),
        "enqueue_bulk": rate(system.get("enqueue_bulk")),
        "drain_1": rate(variant.get("drain", {}).get("1")),
        "drain_2": rate(variant.get("drain", {}).get("2")),
        "rt_p50_ms": rt.get("p50_ms") if rt else None,
        "rt_p99_ms": rt.get("p99_ms") if rt else None,
    }


def _fmt(v: float | None, key: str, note: str = "") -> str:
    if v is None:
        return "n/a"
    s = f"{v:.2f}" if key.startswith("rt_") else f"{v:,.0f}"
    return s + note


def table(results: dict[str, Any]) -> str:
    headers = ["system / variant"] + [h for _, h, _ in COLUMNS]
    rows: list[list[str]] = []
    notes: list[str] = []
    for name, system in results.items():
        if "error" in system:
            rows.append([name] + ["FAILED"] * len(COLUMNS))
            notes.append(f"{name}: {system['error']}")
            continue
        for vname, variant in system["variants"].items():
            vals = row_values(system, variant)
            cells = [f"{name} / {vname}"]
            for key, _, _ in COLUMNS:
                err = variant.get("errors", {}).get(key) or system.get("errors", {}).get(key)
                if err:
                    cells.append("ERROR")
                    notes.append(f"{name}/{vname} {key}: {err}")
                    continue
                note = ""
                if key.startswith("drain_"):
                    d = variant.get("drain", {}).get(key[-1])
                    if d and d["n"] != system["n"]:
                        note = f" (n={d['n']})"
                if key == "enqueue_bulk" and system.get("bulk_api") is None:
                    cells.append("n/a")
                    continue
                cells.append(_fmt(vals[key], key, note))
            rows.append(cells)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    out = [line, "-" * len(line)]
    for r in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    out += [f"  ! {n}" for n in notes]
    return "\n".join(out)


def _best(system: dict[str, Any], key: str, higher: bool) -> tuple[float, str] | None:
    """Best value of a column over the variants that take part in ratios, and its variant."""
    vals = [
        (v, vname)
        for vname, var in system.get("variants", {}).items()
        if var.get("in_ratios", True) and (v := row_values(system, var)[key]) is not None
    ]
    if not vals:
        return None
    return max(vals) if higher else min(vals)


def ratios(results: dict[str, Any]) -> dict[str, Any] | None:
    """taskq's best variant against each competitor's best, per column; > 1 = taskq better.

    Throughput: taskq / competitor. Latency: competitor / taskq. Variants with
    ``in_ratios`` false (a different workload) are left out on both sides.
    """
    taskq = results.get("taskq")
    if not taskq or "error" in taskq:
        return None
    comps = {n: s for n, s in results.items() if n != "taskq" and "error" not in s}
    out: dict[str, Any] = {}
    for key, _, higher in COLUMNS:
        tb = _best(taskq, key, higher)
        t = tb[0] if tb else None
        per: dict[str, float | None] = {}
        bests: dict[str, Any] = {}
        for name, s in comps.items():
            cb = _best(s, key, higher)
            bests[name] = {"value": cb[0], "variant": cb[1]} if cb else None
            c = cb[0] if cb else None
            per[name] = None if t is None or c is None else (t / c if higher else c / t)
        known = {n: b["value"] for n, b in bests.items() if b is not None}
        fastest = (max if higher else min)(known, key=known.__getitem__) if known else None
        per["fastest competitor"] = per[fastest] if fastest else None
        out[key] = {
            "taskq": {"value": t, "variant": tb[1]} if tb else None,
            "competitors": bests,
            "fastest": fastest,
            "ratio": per,
        }
    return out


def ratio_table(r: dict[str, Any]) -> str:
    names = [n for n in next(iter(r.values()))["ratio"]]
    headers = ["taskq vs (x = taskq better)"] + [h for _, h, _ in COLUMNS]
    rows = []
    for name in names:
        cells = [name if name != "fastest competitor" else "fastest competitor"]
        for key, _, _ in COLUMNS:
            v = r[key]["ratio"][name]
            who = f" ({r[key]['fastest']})" if name == "fastest competitor" and v else ""
            cells.append("n/a" if v is None else f"{v:.2f}x{who}")
        rows.append(cells)
    widths = [max(len(x[i]) for x in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [headers, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    used = sorted({r[k]["taskq"]["variant"] for k, _, _ in COLUMNS if r[k]["taskq"]})
    lines.append(f"  taskq variants used (best per column, in_ratios only): {', '.join(used)}")
    return "\n".join(lines)
