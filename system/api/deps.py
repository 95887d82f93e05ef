"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from system.api.admission import Admission
from system.api.grants import EVERYTHING, Grant
from system.api.known_queues import KnownQueues
from system.api.limits import LongPolls
from system.client import AsyncClient
from system.config import Settings
from system.registry import Registry


async def _client(request: Request) -> AsyncClient:
    client: AsyncClient = request.app.state.client
    return client


async def _waiter(request: Request) -> AsyncClient:
    """For long polls: connections without a reply timeout (see ``app``)."""
    waiter: AsyncClient = request.app.state.waiter
    return waiter


async def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def _admission(request: Request) -> Admission:
    admission: Admission = request.app.state.admission
    return admission


async def _long_polls(request: Request) -> LongPolls:
    long_polls: LongPolls = request.app.state.long_polls
    return long_polls


async def _known_queues(request: Request) -> KnownQueues:
    known: KnownQueues = request.app.state.known_queues
    return known


async def _grant(request: Request) -> Grant:
    """What the request's API key may do (set by the Gate; everything without keys)."""
    grant: Grant = getattr(request.state, "grant", EVERYTHING)
    return grant


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
ClientDep = Annotated[AsyncClient, Depends(_client)]
WaiterDep = Annotated[AsyncClient, Depends(_waiter)]
RegistryDep = Annotated[Registry, Depends(_registry)]
AdmissionDep = Annotated[Admission, Depends(_admission)]
LongPollsDep = Annotated[LongPolls, Depends(_long_polls)]
KnownQueuesDep = Annotated[KnownQueues, Depends(_known_queues)]
GrantDep = Annotated[Grant, Depends(_grant)]
