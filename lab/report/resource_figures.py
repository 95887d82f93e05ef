"""The run's resource figure (``resources.csv``): host CPU by mode, stacked, above the
CPU of each role (Redis, the API, the workers summed, the lab's generator), event windows
shaded. A round the sampler missed is a gap in the lines, not a straight line across."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lab.analysis.resources import host_series, role_series
from lab.report.figures import save, shade, with_gaps

ROLE_LABELS = {"lab": "lab (generator)", "api": "API", "redis": "Redis", "worker": "workers"}
MODES = ("user", "nice", "system", "iowait", "steal")


def draw_resources(
    out: Path, resources: pd.DataFrame, events: pd.DataFrame, t0_s: float, interval_s: float
) -> Path:
    fig, (host, roles) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True)
    series = {m: with_gaps(host_series(resources, t0_s, m), interval_s) for m in MODES}
    t = next(iter(series.values())).index.to_numpy() if series else np.array([])
    if len(t):
        host.stackplot(
            t,
            *[series[m].reindex(t).to_numpy() for m in MODES],
            labels=list(MODES),
            alpha=0.8,
        )
    host.set_ylim(0, 100)
    host.set_ylabel("host CPU (% of all CPUs)")
    host.set_title("CPU: the host by mode, and each role of the run")
    host.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    cpu = role_series(resources, t0_s, "process_cpu_percent")
    for role in (r for r in ROLE_LABELS if r in cpu):
        s = with_gaps(cpu[role], interval_s)
        roles.plot(s.index, s.to_numpy(), lw=1.3, label=ROLE_LABELS[role])
    roles.set_ylim(bottom=0)
    roles.set_ylabel("CPU (% of one core)")
    roles.set_xlabel("time since the load started (s)")
    if len(cpu.columns):
        roles.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for ax in (host, roles):
        shade(ax, events, labels=ax is host)
        ax.grid(alpha=0.3)
    return save(fig, out / "resources.png")
