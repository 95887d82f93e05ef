"""Each lab network event as the proxy sees it once applied, and clean once undone."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from lab.faults.network import fault
from lab.faults.toxiproxy import ToxiproxyClient
from lab.scenario.events import Event, NetworkEvent

BASE = {"at_seconds": 0, "target": "worker", "duration_seconds": 1}


@pytest.mark.parametrize(
    ("event", "toxic"),
    [
        ({"action": "latency", "ms": 30, "jitter_ms": 5},
         {"type": "latency", "stream": "downstream", "attributes": {"latency": 30, "jitter": 5}}),
        ({"action": "jitter", "jitter_ms": 40},
         {"type": "latency", "stream": "downstream", "attributes": {"latency": 0, "jitter": 40}}),
        ({"action": "bandwidth", "kb_per_second": 64},
         {"type": "bandwidth", "stream": "downstream", "attributes": {"rate": 64}}),
        ({"action": "reset"},
         {"type": "reset_peer", "stream": "downstream", "attributes": {"timeout": 0}}),
        ({"action": "blackhole"},
         {"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}}),
        ({"action": "partition"}, None),
    ],
)  # fmt: skip
def test_event_applies_and_undoes(
    client: ToxiproxyClient, echo_address: str, event: dict[str, Any], toxic: dict[str, Any] | None
) -> None:
    parsed = TypeAdapter(Event).validate_python(BASE | event)
    assert isinstance(parsed, NetworkEvent)
    client.create_proxy("redis-worker-1", echo_address)
    apply, undo = fault(client, "redis-worker-1", parsed)
    apply()
    state = client.proxy("redis-worker-1")
    if toxic is None:
        assert state["enabled"] is False and state["toxics"] == []
    else:
        assert state["enabled"] is True
        (got,) = state["toxics"]
        assert got["name"] == f"lab-{event['action']}"
        assert {k: got[k] for k in toxic} == toxic
    undo()
    state = client.proxy("redis-worker-1")
    assert state["enabled"] is True and state["toxics"] == []
