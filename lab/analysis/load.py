"""The load as offered and as it went (pure pandas): schedule, sent, accepted, refused by
reason and failed, how late the generator was and whether its in-flight cap bound
(``LoadAccounting`` in ``lab.analysis.model``).

- **offered**: the schedule's arrivals; its end is ``load.duration_seconds`` (open and
  closed loop) or the end of the submission (backlog mode, where all arrive at once).
- **refused**: responses, by reason: 429 (back pressure) and 503 (the API answered that
  Redis is unreachable, or the API itself refused the connection). A submit retried after
  a refusal counts each refusal.
- **late**: sent more than ``report.send_lag_limit_seconds`` after its scheduled time;
  **capped**: sent late because of ``load.max_outstanding_requests``: the dispatcher waited
  for a free slot before sending it, or before an earlier one and had not caught up since.

Runs written before refusals were counted by reason read their final refusals as the
submit's outcome (``rejected``: 429, ``unavailable``: 503).
"""

from __future__ import annotations

import pandas as pd

from lab.analysis.model import LoadAccounting
from lab.scenario.model import Scenario


def schedule_end(scenario: Scenario, load_end_s: float) -> float:
    """When the schedule's last arrival was due, seconds from the start of the load."""
    return load_end_s if scenario.load.mode == "backlog" else scenario.load.duration_seconds


def _refused(tasks: pd.DataFrame, column: str, final_status: str) -> int:
    counted = pd.to_numeric(tasks[column], errors="coerce")
    if counted.notna().any():
        return int(counted.fillna(0).sum())
    return int((tasks["submit"] == final_status).sum())  # a run from before the column


def account(tasks: pd.DataFrame, scenario: Scenario, load_end_s: float) -> LoadAccounting:
    sent = tasks[tasks["sent_s"].notna()]
    end = schedule_end(scenario, load_end_s)
    first, last = (sent["sent_s"].min(), sent["sent_s"].max()) if len(sent) else (None, None)
    accepted = tasks[tasks["submit"] == "accepted"]
    last_end = accepted["finished_s"].max() if len(accepted) else None
    limit = scenario.report.send_lag_limit_seconds
    capped = pd.to_numeric(tasks["capped"], errors="coerce").fillna(0)
    return LoadAccounting(
        offered=len(tasks),
        sent=len(sent),
        accepted=len(accepted),
        refused_429=_refused(tasks, "refused_429", "rejected"),
        refused_503=_refused(tasks, "refused_503", "unavailable"),
        errors=int((tasks["submit"] == "error").sum()),
        refused_in_the_end=int(tasks["submit"].isin(["rejected", "unavailable"]).sum()),
        schedule_end_s=round(end, 3),
        last_sent_s=None if last is None else round(float(last), 3),
        offered_per_second=round(len(tasks) / end, 3) if end > 0 else None,
        sent_per_second=round(len(sent) / float(last - first), 3)
        if last is not None and first is not None and last > first
        else None,
        send_lag_limit_s=limit,
        late_submits=int((tasks["send_lag_s"] > limit).sum()),
        in_flight_cap=scenario.load.max_outstanding_requests
        if scenario.load.mode == "open"
        else None,
        capped_submits=int((capped > 0).sum()),
        drain_after_last_send_s=None
        if last is None or last_end is None or pd.isna(last_end)
        else round(max(0.0, float(last_end - last)), 3),
    )
