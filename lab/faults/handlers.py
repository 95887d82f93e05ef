"""Task handlers for lab scenarios, loaded into the API and the workers with
``system.imports: [lab.faults.handlers]`` in a scenario.

``dependency_call`` calls the lab's ``Dependency`` (``lab.faults.dependency``) and fails when it
answers anything but 200. A circuit breaker guards it: the circuit-breaker scenario takes
the dependency down and watches the breaker open, defer, probe and close.
"""

from __future__ import annotations

import os

import httpx
from pydantic import BaseModel, ConfigDict, Field

from lab.faults.dependency import URL_VARIABLE
from system.registry import task

_client: httpx.AsyncClient | None = None


class DependencyCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ms: int = Field(10, ge=0, le=10_000, description="How long the dependency takes.")


class DependencyUnavailable(Exception):
    """The dependency answered with an error, or not at all."""


@task("dependency_call", breaker=True)
async def dependency_call(p: DependencyCall) -> int:
    """Calls the lab's fault-injectable dependency; fails while it is down."""
    global _client
    if _client is None:
        _client = httpx.AsyncClient(base_url=os.environ[URL_VARIABLE], timeout=5.0)
    try:
        r = await _client.get("/call", params={"ms": p.ms})
    except httpx.HTTPError as exc:
        raise DependencyUnavailable(f"dependency unreachable: {exc}") from None
    if r.status_code != 200:
        raise DependencyUnavailable(f"dependency answered {r.status_code}")
    return p.ms
