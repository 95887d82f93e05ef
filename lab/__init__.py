"""The lab: experiment orchestration for the task queue, one pipeline in five stages.

``scenario/`` what a run is to be (YAML, validated) → ``run/`` bring the system up, offer
the load, apply the timeline's events, collect → ``faults/`` what events act on besides
processes (a dependency, network faults through a Toxiproxy-compatible proxy) →
``analysis/`` from the tables to a typed ``RunSummary`` and the checks' verdict →
``report/`` the results folder, figures, report files, sweeps and comparisons.
``backends/`` is where the system runs (local processes, their Prometheus); ``cli`` is
the ``lab`` command; ``results`` re-exports ``load`` for notebooks.
"""
