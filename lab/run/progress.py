"""A live progress display while a run goes: rich on a terminal, a plain line every few
seconds otherwise (CI logs, pipes)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from lab.run.generator import LoadProgress
from lab.run.scrape import Scraper
from lab.run.timeline import EventRecord

PLAIN_EVERY_SECONDS = 5.0


class Progress:
    def __init__(
        self,
        name: str,
        duration_seconds: float,
        load: LoadProgress,
        scraper: Scraper,
        events: Callable[[], list[EventRecord]],
        *,
        prometheus_url: str | None = None,
        live_url: str | None = None,
    ) -> None:
        self.name = name
        self.duration = duration_seconds
        self.load = load
        self.scraper = scraper
        self.events = events
        self.prometheus_url = prometheus_url  # shown throughout, to open it during the run
        self.live_url = live_url  # the run's live page (lab.web)
        self.tty = sys.stdout.isatty()

    def _values(self, elapsed: float) -> dict[str, str]:
        m = self.scraper.latest
        last = self.events()[-1] if self.events() else None
        return (
            {
                "elapsed": f"{elapsed:5.1f} / {self.duration:g} s",
                "sent": f"{self.load.sent} of {self.load.planned}",
                "accepted": str(self.load.accepted),
                "refused / errors": f"{self.load.refused} / {self.load.failed}",
                "queued / running": f"{m.get('taskq_lab_queue_depth|state=queued', 0):.0f} / "
                f"{m.get('taskq_lab_queue_depth|state=running', 0):.0f}",
                "succeeded": f"{m.get('taskq_lab_queue_events_total|event=succeeded', 0):.0f}",
                "workers": f"{m.get('taskq_lab_worker_processes', 0):.0f}",
                "last event": f"{last.action} {last.detail}" if last else "-",
            }
            | ({"prometheus": self.prometheus_url} if self.prometheus_url else {})
            | ({"live page": self.live_url} if self.live_url else {})
        )

    def _table(self, elapsed: float) -> Table:
        table = Table(title=f"lab run: {self.name}", show_header=False)
        for key, value in self._values(elapsed).items():
            table.add_row(key, value)
        return table

    async def run(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        if not self.tty:
            while not stop.is_set():
                values = self._values(time.monotonic() - started)
                print("  " + "  ".join(f"{k}: {v}" for k, v in values.items()), flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PLAIN_EVERY_SECONDS)
            return
        with Live(self._table(0), console=Console(), refresh_per_second=4, transient=True) as live:
            while not stop.is_set():
                live.update(self._table(time.monotonic() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
