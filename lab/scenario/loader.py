"""Loading a scenario file: YAML -> ``--set`` overrides -> the pydantic model.

Errors name the field path and the YAML line it is on: the file is composed into a node
tree once, whose marks give each mapping key and value a line, and pydantic's error
locations are walked through that tree.

A scenario is small: a file over ``MAX_FILE_BYTES``, or one whose aliases would expand it
past ``MAX_NODES`` (a "billion laughs" bomb of ten lines expands to 10^9), is refused
before anything walks the expanded tree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lab.scenario.model import Scenario

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 1_048_576
# Far above any real scenario (the shipped ones have under 200 nodes), far below a bomb.
MAX_NODES = 20_000


class ScenarioError(Exception):
    """A scenario that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _lines(
    node: yaml.Node, path: Path_ = (), out: dict[Path_, int] | None = None
) -> dict[Path_, int]:
    """Map every field path to its 1-based line (a key's line for mapping entries)."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _lines(item, (*path, i), out)
    return out


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in the tree once every alias is expanded, counted without expanding: an
    aliased node is the same object each time, so its size is computed once."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_NODES + 1  # met again while inside itself: a recursive alias
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = size
    return size


def _has(node: Any, part: str | int) -> bool:
    """``node[part]`` exists (a mapping key, or an index of a list)."""
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """The part of a pydantic location that exists in the data (drops union tags such as
    ``constant`` in ``load.arrivals.constant.rate_per_second``), as far as it goes."""
    path: list[str | int] = []
    for part in loc:
        if _has(data, part):
            data = data[part]
        elif isinstance(data, dict) and isinstance(part, str) and part not in data:
            # A missing field (reported at its parent) or a union tag (skipped).
            if part in _TAG_PARTS:
                continue
            path.append(part)
            break
        else:
            break
        path.append(part)
    return tuple(path)


# Names pydantic puts in a location for the member of a tagged union it tried.
_TAG_PARTS = frozenset(
    {
        "constant",
        "poisson",
        "ramp",
        "step",
        "burst",
        "scale_workers",
        "kill_worker",
        "pause",
        "resume",
        "restart_redis",
        "int",
        "literal['in_flight_at_kills']",
    }
)


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``a.b.0.c=value``: the value is YAML (``3`` an int, ``null``, ``[1, 2]``...)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError([f"--set {text!r}: expected KEY=VALUE, e.g. load.duration_seconds=5"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ScenarioError([f"--set {text!r}: the value is not YAML: {exc}"]) from None
    return [int(p) if p.isdigit() else p for p in key.strip().split(".")], value


def apply_override(data: dict[str, Any], path: list[str | int], value: Any) -> None:
    """Set ``value`` at ``path``, creating mappings on the way (list items must exist)."""
    node: Any = data
    where = ""
    for part in path[:-1]:
        where = f"{where}.{part}" if where else str(part)
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ScenarioError([f"--set {where}: no such item to set a field in"])
    last = path[-1]
    if isinstance(node, dict) or _has(node, last):
        node[last] = value
    else:
        raise ScenarioError([f"--set {'.'.join(map(str, path))}: no such item"])


def load_scenario(file: Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate; raise ``ScenarioError`` naming field and line."""
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError([f"{file}: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError([f"{file}: over {MAX_FILE_BYTES} bytes; a scenario is far smaller"])
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{file}: not UTF-8 text ({exc.reason})"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise ScenarioError(
                [
                    f"{file}: its aliases (*name) expand to over {MAX_NODES} values "
                    "(or refer to themselves); a scenario is far smaller"
                ]
            )
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ScenarioError([f"{file}{line}: invalid YAML: {exc.problem or exc}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"{file}: expected a mapping of fields at the top (name: ...)"])
    lines = _lines(node) if node is not None else {}
    overridden: set[Path_] = set()
    for text_ in overrides:
        path, value = parse_override(text_)
        apply_override(data, path, value)
        overridden.add(tuple(path))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_messages(file, exc, data, lines, overridden)) from None


def _messages(
    file: Path, exc: ValidationError, data: Any, lines: dict[Path_, int], overridden: set[Path_]
) -> list[str]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"] if p not in _TAG_PARTS) or "(top level)"
        path = _data_path(data, err["loc"])
        if err["type"] == "union_tag_invalid":  # point at the tag's own line
            path = (*path, str((err.get("ctx") or {}).get("discriminator", "")).strip("'"))
        if any(path[: len(o)] == o for o in overridden):
            where = f"{file} (--set)"
        else:
            known = next((path[:n] for n in range(len(path), -1, -1) if path[:n] in lines), ())
            where = f"{file}:{lines[known]}" if known in lines else str(file)
        shown = json.dumps(err["input"], default=str)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        got = f" (got {shown})" if err["type"] != "missing" else ""
        out.append(f"{where}: {field}: {err['msg']}{got}")
    return out


def dump_resolved(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML (saved with each run)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
