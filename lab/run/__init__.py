"""Stage 2, a run: bring the system up through a backend, offer the load while the
timeline applies the scenario's events, wait for the drain, collect everything, stop.

``runner`` (one run, start to end) · ``schedule`` (the seeded arrivals) · ``generator``
(the load generator: open, closed, backlog) · ``senders`` (HTTP or Redis) ·
``timeline`` (events applied and recorded) · ``autoscaling`` (the system's autoscaler,
applied through the timeline) · ``scrape`` (the lab's scrape and sampler) ·
``resources`` (host and process CPU / memory, psutil) · ``prometheus_source`` (series
from a Prometheus) · ``task_records`` (the tasks table) ·
``progress`` (the live display) · ``environment`` (the manifest) · ``sweep`` (every
cell of a sweep in turn).
"""
