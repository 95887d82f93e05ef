"""Toxics: what a proxy does to the bytes of one direction of a connection.

The models and their JSON follow Toxiproxy 2.x: ``{"name", "type", "stream", "toxicity",
"attributes"}``, the name defaulting to ``<type>_<stream>``, the stream to ``downstream``
(server to client) and toxicity (the chance that a new connection is affected) to 1.0.
Times in attributes are milliseconds, except ``slicer.delay`` (microseconds), as in
Toxiproxy.

Each toxic type is a ``ToxicKind`` with its attribute defaults; the proxy calls its hooks
for every chunk that passes (``transform``) and regularly while it is active (``tick``),
so a toxic can delay, cut, drop or close.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


class ToxicError(ValueError):
    """A toxic that cannot be built; ``status`` is the HTTP status Toxiproxy answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# Attribute defaults per type; a toxic accepts exactly these attribute names.
KINDS: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},  # KB/s
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},  # bytes, bytes, µs
    "limit_data": {"bytes": 0},
}


@dataclass(slots=True)
class Toxic:
    name: str
    type: str
    stream: Stream = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    def attribute(self, key: str) -> int:
        return self.attributes.get(key, KINDS[self.type][key])


def _attributes(kind: str, given: Any, base: dict[str, int]) -> dict[str, int]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ToxicError("bad request body: attributes must be an object")
    out = dict(base)
    for key, value in given.items():
        if key not in KINDS[kind]:
            raise ToxicError(f"bad request body: unknown attribute {key!r} of {kind}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ToxicError(f"bad request body: attribute {key!r} must be a number >= 0")
        out[key] = int(value)
    return out


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ToxicError("bad request body: toxicity must be a number from 0 to 1")
    return float(value)


def toxic_from_json(body: Any) -> Toxic:
    """A new toxic from a create request (Toxiproxy's defaults and error texts)."""
    if not isinstance(body, dict):
        raise ToxicError("bad request body")
    kind = body.get("type")
    if kind not in KINDS:
        raise ToxicError("invalid toxic type")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ToxicError("stream was invalid, can be either upstream or downstream")
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise ToxicError("bad request body: name must be a string")
    toxicity = _toxicity(body.get("toxicity", 1.0))
    return Toxic(name, kind, stream, toxicity, _attributes(kind, body.get("attributes"), {}))


def update_from_json(toxic: Toxic, body: Any) -> None:
    """Change a toxic in place: toxicity and attributes; type and stream stay."""
    if not isinstance(body, dict):
        raise ToxicError("bad request body")
    if "toxicity" in body:
        toxic.toxicity = _toxicity(body["toxicity"])
    if "attributes" in body:
        toxic.attributes = _attributes(toxic.type, body["attributes"], toxic.attributes)


# ---- effects on a stream --------------------------------------------------------------


def latency_seconds(toxic: Toxic, rng: random.Random) -> float:
    """Delay of one chunk: latency ± a uniform jitter, never negative."""
    latency, jitter = toxic.attribute("latency"), toxic.attribute("jitter")
    delay = latency + (rng.uniform(-jitter, jitter) if jitter else 0.0)
    return max(0.0, delay) / 1000.0


def bandwidth_seconds(toxic: Toxic, size_bytes: int) -> float:
    """Time to send ``size_bytes`` at ``rate`` KB/s (0: no limit)."""
    rate = toxic.attribute("rate")
    return size_bytes / (rate * 1000.0) if rate > 0 else 0.0


def slices(toxic: Toxic, data: bytes, rng: random.Random) -> list[bytes]:
    """The chunk cut into pieces of average_size ± size_variation bytes."""
    average, variation = toxic.attribute("average_size"), toxic.attribute("size_variation")
    if average <= 0:
        return [data]
    out, i = [], 0
    while i < len(data):
        size = max(1, average + (rng.randint(-variation, variation) if variation else 0))
        out.append(data[i : i + size])
        i += size
    return out
