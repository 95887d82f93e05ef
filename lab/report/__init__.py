"""Stage 5, the report: the results folder and every file derived from it.

``folder`` (the layout of a run's and a sweep's folder; writing a run's raw files;
reading either back: ``load``, ``Run``, ``Sweep``) · ``derive`` (``lab report`` of a run:
summary.json, figures, report files) · ``run_report`` (what a run's report says) ·
``document`` (blocks written as report.md and report.html) · ``figures`` (a run's
figures) · ``columns`` (the per-run columns of compare.csv and cells.csv) · ``sweep``
and ``sweep_figures`` (a sweep's tables, USL fit, figures and report) · ``compare``
(``lab compare``: runs and sweeps side by side).
"""
