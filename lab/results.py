"""Stored results for notebooks and scripts: ``from lab.results import load``.

``load(path)`` reads a run folder (a ``Run``: tables, scenario, ``RunSummary``) or a sweep
folder (a ``Sweep``) back; see ``lab.report.folder``, where they are defined.
"""

from lab.report.folder import NotAResultsFolder, Run, Sweep, load

__all__ = ["NotAResultsFolder", "Run", "Sweep", "load"]
