"""The lab in a browser: a live page while ``lab run`` goes, and ``lab serve`` to browse
past runs and sweeps and compare them.

``server`` (a loopback HTTP server in a thread, or in the foreground) · ``assets`` (the
static files, read once, and the headers they are sent with) · ``feed`` (a run's live
data, from what the run already collects) · ``histogram`` (latency quantiles from the
workers' histograms) · ``live`` (the live page) · ``browse`` (the results folder as
reports and comparisons) · ``serve`` (the ``lab serve`` application) · ``static/`` (one
HTML page per application, plain JavaScript modules, no library, no CDN).
"""
