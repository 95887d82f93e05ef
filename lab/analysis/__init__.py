"""Stage 4, analysis: from a stored run's tables to its ``RunSummary`` (pure pandas, no
I/O; ``lab.report`` reads the folder and writes the files).

``model`` (``RunSummary`` and its parts: the typed contract of ``summary.json``) ·
``summary`` (``summarize(run)``: counts, latency, phases, saturation, then every module
below, then the checks) · ``series`` (time series: the lab sampler's, per-window
throughput and latency) · ``recovery`` (per fault) · ``capacity`` (backlog drain) ·
``breaker`` (circuit breaker over a dependency fault) · ``partition`` (leases and fencing
over a cut) · ``load`` (offered, sent, accepted, refused by reason) · ``resources``
(host and process use per stretch) · ``verdict`` (generator, host or API the bottleneck?)
· ``checks`` (the scenario's invariants) · ``stats`` (mean and t interval
over repetitions) · ``usl`` (the Universal Scalability Law fit).
"""
