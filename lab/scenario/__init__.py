"""Stage 1, the scenario: what a run is to be, validated before anything starts.

``model`` (the pydantic ``Scenario``: system, load, checks, report, sweep) · ``events``
(the timeline's event models) · ``loader`` (YAML with ``--set`` overrides; errors name
the field and the line) · ``sweep`` (a sweep's grid of cells).
"""

from lab.scenario.loader import ScenarioError, load_scenario
from lab.scenario.model import Scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario"]
