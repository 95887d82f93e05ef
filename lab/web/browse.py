"""A results folder as ``lab serve`` shows it: the runs and sweeps in it, each one's
report, and comparisons of several made by ``lab compare``'s own code.

Only what a scan of the folder found can be asked for: a request names a result by the
relative path the scan listed (a key of ``Results.scan``), never a path that is joined
onto the folder, so ``..``, absolute paths and symbolic links that leave the folder lead
nowhere. Nothing is written into the folder: a result whose report was never derived
(the committed examples keep their raw tables only) is copied into the server's own cache
and derived there, by the same ``lab report`` code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.report.folder import RUN_FILE, SUMMARY_FILE, SWEEP_FILE

MAX_DEPTH = 3  # results/<run>, results/examples/<run>, results/a/b/<run>
SKIPPED = {"logs", "figures", "cells"}  # folders of a result, not results
REPORT = "report.html"


@dataclass(frozen=True)
class Result:
    """One run or sweep found by the scan; ``key`` is its path relative to the root."""

    key: str
    path: Path
    kind: str  # "run" or "sweep"
    sweep: str | None = None  # a sweep's run: the sweep's key

    def listing(self) -> dict[str, Any]:
        """What the index shows: from summary.json (and the scenario's name)."""
        summary = _json(self.path / SUMMARY_FILE)
        entry: dict[str, Any] = {"key": self.key, "kind": self.kind, "sweep": self.sweep}
        if self.kind == "sweep":
            entry |= {
                "scenario": summary.get("scenario"),
                "runs": summary.get("runs"),
                "runs_done": summary.get("runs_done"),
            }
            return entry
        latency = summary.get("latency_s") or {}
        checks = summary.get("checks") or []
        entry |= {
            "scenario": summary.get("scenario"),
            "run": summary.get("run") or self.path.name,
            "passed": summary.get("passed") if checks else None,
            "accepted": summary.get("accepted"),
            "lost": summary.get("lost"),
            "throughput_per_second": summary.get("throughput_per_second"),
            "latency_p99_s": latency.get("p99"),
        }
        return entry


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _kind(folder: Path) -> str | None:
    if (folder / SWEEP_FILE).is_file():
        return "sweep"
    if (folder / RUN_FILE).is_file():
        return "run"
    return None


class Results:
    """The results under ``root``, rescanned on each ``scan`` (runs land while it serves)."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root.resolve()
        self.cache = cache
        self._render = threading.Lock()  # matplotlib draws one figure at a time
        self._rendered: dict[str, Path] = {}  # cache key -> report.html in the cache

    def scan(self) -> dict[str, Result]:
        found: dict[str, Result] = {}
        self._walk(self.root, 0, found)
        return found

    def _inside(self, folder: Path) -> bool:
        return folder.resolve().is_relative_to(self.root)

    def _walk(self, folder: Path, depth: int, found: dict[str, Result]) -> None:
        kind = _kind(folder)
        if kind is not None:
            key = folder.relative_to(self.root).as_posix() if folder != self.root else "."
            found[key] = Result(key, folder, kind)
            if kind == "sweep":
                for cell in sorted((folder / "cells").glob("*")):
                    if _kind(cell) == "run" and self._inside(cell):
                        cell_key = f"{key}/cells/{cell.name}"
                        found[cell_key] = Result(cell_key, cell, "run", sweep=key)
            return
        if depth >= MAX_DEPTH:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if child.name in SKIPPED or child.name.startswith(".") or not self._inside(child):
                continue
            self._walk(child, depth + 1, found)

    # --- reports -----------------------------------------------------------------------

    def report(self, result: Result) -> Path:
        """The result's report.html: its own, or one derived in the cache."""
        own = result.path / REPORT
        if own.is_file():
            return own
        key = f"{result.kind}:{result.key}:{_stamp(result.path)}"
        with self._render:
            if key not in self._rendered:
                self._rendered[key] = self._derive_copy(result, key)
            return self._rendered[key]

    def _derive_copy(self, result: Result, key: str) -> Path:
        copy = self.cache / _digest(key) / result.path.name
        shutil.rmtree(copy.parent, ignore_errors=True)
        shutil.copytree(result.path, copy, ignore=shutil.ignore_patterns("logs"))
        if result.kind == "sweep":
            from lab.report.sweep import derive_sweep

            derive_sweep(copy, runs_too=False)
        else:
            from lab.report.derive import derive

            derive(copy)
        return copy / REPORT

    def compare(self, results: list[Result]) -> Path:
        """``lab compare`` of ``results`` (in this order), its report.html in the cache."""
        from lab.report.compare import compare

        key = "compare:" + "|".join(f"{r.key}:{_stamp(r.path)}" for r in results)
        with self._render:
            if key not in self._rendered:
                out = self.cache / _digest(key)
                shutil.rmtree(out, ignore_errors=True)
                compare([r.path for r in results], out)
                self._rendered[key] = out / REPORT
            return self._rendered[key]


def _stamp(folder: Path) -> str:
    """Changes when a result is (re)written: the times of its summary and raw meta file."""
    parts = []
    for name in (SUMMARY_FILE, RUN_FILE, SWEEP_FILE, REPORT):
        try:
            parts.append(str((folder / name).stat().st_mtime_ns))
        except OSError:
            parts.append("-")
    return ".".join(parts)


def _digest(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
