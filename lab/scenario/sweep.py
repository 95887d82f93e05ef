"""Sweeps: a scenario with ``sweep:`` is a grid of cells, each run ``repeat`` times.

A cell is one combination of the grid's values, applied to the scenario like ``--set``
overrides; repetition r runs it with seed + r. Every run is an ordinary run folder::

    results/<stamp>-<name>/          the sweep
        scenario.resolved.yaml       the scenario with its sweep
        sweep.json                   grid, repeat, and every run: folder, values, seed, status
        cells/<values>-r<k>/         one run folder per cell and repetition
        cells.csv aggregate.csv summary.json report.md report.html figures/   (derived)

Every cell is validated before anything runs, so a bad value fails at once, naming the
grid entry and the field. ``lab.run.sweep`` runs the cells; ``lab.report.sweep`` derives
the sweep's tables and report.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lab.scenario.loader import ScenarioError, apply_override
from lab.scenario.model import Scenario

FORBIDDEN_KEYS = ("name", "sweep", "seed")
MAX_FOLDER_CHARS = 80


@dataclass(frozen=True, slots=True)
class Cell:
    values: dict[str, Any]  # grid path -> value
    repetition: int  # 0-based
    scenario: Scenario  # the scenario of this run (no sweep)

    @property
    def folder(self) -> str:
        return cell_folder(self.values, self.repetition)


def _short(key: str, keys: list[str]) -> str:
    """The last part of a dotted path, unless two grid keys share it."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def cell_folder(values: dict[str, Any], repetition: int) -> str:
    """``workers=4_concurrency=8_r2``; a long value (a whole mix) is shortened to a
    prefix and a hash, so that names stay readable and distinct."""
    keys = list(values)
    parts = [f"{_short(k, keys)}={values[k]}" for k in keys]
    name = re.sub(r"[^A-Za-z0-9_.=-]", "-", "_".join(parts))
    if len(name) > MAX_FOLDER_CHARS:
        digest = hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
        name = f"{name[: MAX_FOLDER_CHARS - 11]}-{digest}"
    return f"{name}_r{repetition + 1}"


def expand(scenario: Scenario) -> list[Cell]:
    """Every run of the sweep, validated; ``ScenarioError`` names each bad value."""
    if scenario.sweep is None:
        raise ScenarioError([f"{scenario.name}: the scenario has no sweep"])
    grid = scenario.sweep.grid
    errors = [
        f"sweep.grid.{key}: cannot be swept (it names the run)"
        for key in grid
        if key.split(".")[0] in FORBIDDEN_KEYS
    ]
    errors += [f"sweep.grid.{key}: needs at least one value" for key, v in grid.items() if not v]
    if errors:
        raise ScenarioError(errors)
    base = scenario.model_dump(mode="json", exclude={"sweep"})
    cells: list[Cell] = []
    for combo in itertools.product(*grid.values()):
        values = dict(zip(grid, combo, strict=True))
        data = copy.deepcopy(base)
        try:
            for key, value in values.items():
                apply_override(data, [int(p) if p.isdigit() else p for p in key.split(".")], value)
            cell = Scenario.model_validate(data)
        except ScenarioError as exc:
            errors += [f"sweep.grid ({_show(values)}): {e}" for e in exc.errors]
            continue
        except ValidationError as exc:
            errors += [
                f"sweep.grid ({_show(values)}): {'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
            continue
        for r in range(scenario.sweep.repeat):
            cells.append(Cell(values, r, cell.model_copy(update={"seed": scenario.seed + r})))
    if errors:
        raise ScenarioError(errors)
    return cells


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())
