"""What the host and the processes used, per stretch of the run (pure pandas), from
``resources.csv`` (``lab.run.resources``): the ``Resources`` of ``lab.analysis.model``.

The stretches are those of the phases (between events, to the end of the load) and one
"after load" stretch for the drain. Per stretch: host CPU busy (100 - idle, mean), its
lowest idle, steal, the highest 1-minute load and memory used; per role (redis, api,
worker, lab) the CPU of its processes summed (100 = one core) as a mean and the highest
sample, and their summed resident memory at most.

**Saturated host**: a sample whose idle CPU is below ``report.host_idle_floor_percent``,
counted from the start of the load until the last task ended (the drain is measured too).
**Busy generator**: a sample where the lab's process (the load generator's event loop, on
one core) used ``GENERATOR_BUSY_PERCENT`` of a core or more.
"""

from __future__ import annotations

import itertools

import pandas as pd

from lab.analysis.model import ResourcePhase, Resources

GENERATOR_BUSY_PERCENT = 90.0  # of one core: the lab's event loop has no room left
MIN_STRETCH_SECONDS = 0.5


def label(frame: pd.DataFrame, name: str) -> pd.Series[str]:
    return frame["labels"].str.extract(rf"(?:^|,){name}=([^,]*)", expand=False).fillna("")


def host_series(resources: pd.DataFrame, t0_s: float, mode: str) -> pd.Series[float]:
    """Host CPU in one mode (percent of all CPUs) by seconds from the start of the load."""
    rows = resources[resources["metric"] == "host_cpu_percent"]
    rows = rows[label(rows, "mode") == mode]
    return pd.Series(rows["value"].to_numpy(), index=rows["time"].to_numpy() - t0_s, dtype=float)


def role_series(resources: pd.DataFrame, t0_s: float, metric: str) -> pd.DataFrame:
    """One column per role (its processes summed), indexed by seconds from the start."""
    rows = resources[resources["metric"] == metric]
    if not len(rows):
        return pd.DataFrame()
    frame = pd.DataFrame(
        {"t": rows["time"] - t0_s, "role": label(rows, "role"), "value": rows["value"]}
    )
    return frame.pivot_table(index="t", columns="role", values="value", aggfunc="sum")


def _simple(resources: pd.DataFrame, t0_s: float, metric: str) -> pd.Series[float]:
    rows = resources[resources["metric"] == metric]
    return pd.Series(rows["value"].to_numpy(), index=rows["time"].to_numpy() - t0_s, dtype=float)


def _between(s: pd.Series[float], a: float, b: float) -> pd.Series[float]:
    return s[(s.index >= a) & (s.index < b)]


def _rows_between(frame: pd.DataFrame, a: float, b: float) -> pd.DataFrame:
    return frame[(frame.index >= a) & (frame.index < b)]


def _r(v: float, digits: int = 1) -> float | None:
    return None if pd.isna(v) else round(float(v), digits)


def summarize(
    resources: pd.DataFrame,
    t0_s: float,
    cuts: list[float],
    load_end_s: float,
    floor: float,
    measured_until_s: float | None = None,
) -> Resources | None:
    """None when the run recorded no resources. The saturation shares count the samples
    from the start of the load to ``measured_until_s`` (the last task's end: a backlog's
    drain, an open loop's tail are measured too), or to the end of the load."""
    if resources is None or not len(resources):
        return None
    idle = host_series(resources, t0_s, "idle")
    steal = host_series(resources, t0_s, "steal")
    load1 = _simple(resources, t0_s, "host_load1")
    memory = _simple(resources, t0_s, "host_memory_used_bytes")
    cpus = _simple(resources, t0_s, "host_cpus")
    cpu = role_series(resources, t0_s, "process_cpu_percent")
    rss = role_series(resources, t0_s, "process_rss_bytes")
    end = float(idle.index.max()) if len(idle) else load_end_s
    bounds = sorted({c for c in [0.0, *cuts, load_end_s] if 0.0 <= c <= load_end_s})
    stretches = [("load", a, b) for a, b in itertools.pairwise(bounds)]
    stretches.append(("after load", load_end_s, end + 1e-9))
    phases = []
    for name, a, b in stretches:
        i = _between(idle, a, b)
        if b - a < MIN_STRETCH_SECONDS or not len(i):
            continue
        c, m = _rows_between(cpu, a, b), _rows_between(rss, a, b)
        phases.append(
            ResourcePhase(
                label=name,
                from_s=round(a, 3),
                to_s=round(min(b, end), 3),
                samples=len(i),
                host_busy_percent=_r(100.0 - i.mean()),
                host_idle_percent_min=_r(i.min()),
                host_steal_percent=_r(_between(steal, a, b).mean()),
                load1_max=_r(_between(load1, a, b).max(), 2),
                memory_used_bytes_max=_r(_between(memory, a, b).max(), 0),
                cpu_percent={str(k): round(float(v), 1) for k, v in c.mean().dropna().items()},
                cpu_percent_max={str(k): round(float(v), 1) for k, v in c.max().dropna().items()},
                rss_bytes_max={str(k): float(v) for k, v in m.max().dropna().items()},
            )
        )
    until = max(load_end_s, measured_until_s or 0.0)
    during = _between(idle, 0.0, until)
    low = during[during < floor]
    lab = cpu["lab"] if "lab" in cpu else pd.Series(dtype=float)
    lab_during = _between(lab, 0.0, until)
    return Resources(
        cpus=int(cpus.iloc[0]) if len(cpus) else None,
        samples=len(idle),
        idle_floor_percent=floor,
        host_saturated_share=round(len(low) / len(during), 3) if len(during) else None,
        host_saturated_from_s=round(float(low.index[0]), 3) if len(low) else None,
        generator_busy_share=round(float((lab_during >= GENERATOR_BUSY_PERCENT).mean()), 3)
        if len(lab_during)
        else None,
        phases=phases,
    )
