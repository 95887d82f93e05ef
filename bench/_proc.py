"""Child processes of the benchmark: started in their own session, never left behind.

- Every worker (and the private redis-server) is started with ``start_new_session=True``,
  so it leads its own process group, with stdout and stderr in a log file.
- The harness makes itself a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``): a
  grandchild whose parent dies (an RQ work horse, a Celery pool process, a Dramatiq
  worker process) is re-parented to the harness instead of init, so it can still be found.
- ``Proc.stop()`` asks the leader to shut down the library's normal way (SIGTERM is warm
  shutdown for Celery, RQ, Dramatiq and arq), waits a bounded time, then SIGKILLs the
  whole group; afterwards any process left in the group or re-parented to the harness is
  killed and reaped, and reported on stderr (not hidden).
- ``atexit`` kills whatever is still registered, so an exception or Ctrl-C leaves nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

_PR_SET_CHILD_SUBREAPER = 36
_live: dict[int, Proc] = {}
#: Children of the harness started by other code (e.g. system.redis_server): never reaped.
_protected: set[int] = set()


def _become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            print(
                f"bench: prctl(PR_SET_CHILD_SUBREAPER) failed errno={ctypes.get_errno()}",
                file=sys.stderr,
            )
    except (OSError, AttributeError) as exc:
        print(f"bench: cannot become child subreaper: {exc}", file=sys.stderr)


_become_subreaper()


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), fields[0]


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def untracked_children() -> list[int]:
    """Live (non-zombie) children of the harness that no Proc owns: orphans adopted by us."""
    me = os.getpid()
    owned = set(_live) | _protected
    out = []
    for pid in _all_pids():
        st = _stat(pid)
        if st is not None and st[0] == me and pid not in owned:
            out.append(pid)
    return out


def protect(pid: int) -> None:
    """Mark a child started by other code (the Redis server) as legitimate: never reaped."""
    _protected.add(pid)


def reap_orphans(grace_s: float = 2.0) -> list[int]:
    """SIGKILL and reap every untracked child of the harness; return the pids found."""
    found: list[int] = []
    deadline = time.monotonic() + grace_s
    while True:
        pids = untracked_children()
        if not pids:
            return found
        for pid in pids:
            st = _stat(pid)
            if st is None:
                continue
            if pid not in found:
                found.append(pid)
            if st[2] != "Z":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: could not reap processes {pids}")
        time.sleep(0.02)


class Proc:
    """One process-group leader started by the benchmark."""

    def __init__(self, popen: subprocess.Popen[bytes], log_path: str, argv: Sequence[str]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path
        self.argv = list(argv)
        _live[self.pid] = self

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - n_chars))
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _group_members(self) -> list[int]:
        return [
            p
            for p in _all_pids()
            if (st := _stat(p)) is not None and st[1] == self.pid and st[2] != "Z"
        ]

    def stop(self, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """Graceful stop with a deadline, then SIGKILL; leaves no process of this group."""
        try:
            if self.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
                try:
                    self.popen.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    print(
                        f"bench: pid {self.pid} ({self.argv[0]}) ignored signal {sig} for "
                        f"{timeout_s}s, killing its group",
                        file=sys.stderr,
                    )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.pid, signal.SIGKILL)
                    self.popen.wait(timeout=10)
            left = self._group_members()
            if left:
                print(
                    f"bench: group of pid {self.pid} left {left} behind; killing them",
                    file=sys.stderr,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
        finally:
            _live.pop(self.pid, None)
        orphans = reap_orphans()
        if orphans:
            print(
                f"bench: killed orphaned processes {orphans} after stopping pid {self.pid}",
                file=sys.stderr,
            )


def spawn(
    argv: Sequence[str], log_path: str, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> Proc:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log.close()
    return Proc(popen, log_path, argv)


def stop_all(timeout_s: float = 5.0) -> None:
    for proc in list(_live.values()):
        proc.stop(timeout_s=timeout_s)


atexit.register(stop_all)
