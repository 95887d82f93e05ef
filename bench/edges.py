"""The edges of issue 15 in one run, before and after: ``python -m bench.edges --before DIR``.

Runs, one after the other, each with the other checkout beside this one (``DIR``: for
example ``git archive <commit> | tar -x -C DIR``):

- ``bench.http``: ``POST /tasks/`` against a trivial FastAPI endpoint, 1 and 2 processes;
- ``bench.enqueue``: ``Client.submit`` one by one and ``submit_many``, with every
  competitor in the same rounds;
- ``bench.idle``: what idle workers cost (Redis commands per second, CPU);
- ``bench.recovery``: a SIGKILLed worker's tasks back, with the default settings.

Each prints its own table; this prints the machine and its load average before each, so
that the figures of one run can be read together. ``--quick`` shortens every part.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def _machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    python = platform.python_version()
    return f"{os.cpu_count()} CPUs ({model}), {platform.platform()}, Python {python}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the other checkout")
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter measurements")
    args = ap.parse_args()
    before = str(args.before.resolve())
    rounds = "2" if args.quick else "3"
    parts = [
        ["bench.http", "--rounds", rounds, "--seconds", "5" if args.quick else "8"],
        ["bench.enqueue", "--rounds", rounds, "--n", "10000" if args.quick else "20000"],
        ["bench.idle", "--seconds", "10" if args.quick else "20"],
        ["bench.recovery", "--rounds", rounds],
    ]
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {_machine()}", flush=True)
    failed = []
    for part in parts:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n=== {' '.join(part)} --taskq-from {before}   (load average {load})", flush=True)
        done = subprocess.run([sys.executable, "-m", *part, "--taskq-from", before], check=False)
        if done.returncode:
            failed.append(part[0])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end {load}; failed: {', '.join(failed) or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
