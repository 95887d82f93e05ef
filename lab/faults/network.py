"""Network events as Toxiproxy calls: what to apply to a process's Redis proxy, and how to
undo it. Toxics act on the ``downstream`` (replies from Redis), where a client waits,
except a blackhole, which swallows the requests."""

from __future__ import annotations

from collections.abc import Callable

from lab.faults.toxiproxy import ToxiproxyClient
from lab.scenario.events import (
    Bandwidth,
    Blackhole,
    Jitter,
    Latency,
    NetworkEvent,
    Partition,
    Reset,
)

Action = Callable[[], None]


def fault(client: ToxiproxyClient, proxy: str, event: NetworkEvent) -> tuple[Action, Action]:
    """(apply, undo) of ``event`` on ``proxy``; each returns once the proxy acts on it."""
    name = f"lab-{event.action}"
    match event:
        case Partition():
            return (
                lambda: _ignore(client.set_enabled(proxy, False)),
                lambda: _ignore(client.set_enabled(proxy, True)),
            )
        case Latency() | Jitter():
            kind, attributes = "latency", {"latency": event.ms, "jitter": event.jitter_ms}
        case Bandwidth():
            kind, attributes = "bandwidth", {"rate": event.kb_per_second}
        case Reset():
            kind, attributes = "reset_peer", {"timeout": 0}
        case Blackhole():  # on the requests: Redis never sees them, so nothing is applied
            return (
                lambda: _ignore(
                    client.add_toxic(proxy, "timeout", {"timeout": 0}, name=name, stream="upstream")
                ),
                lambda: client.remove_toxic(proxy, name),
            )
    return (
        lambda: _ignore(client.add_toxic(proxy, kind, attributes, name=name)),
        lambda: client.remove_toxic(proxy, name),
    )


def _ignore(_: object) -> None:
    return None
