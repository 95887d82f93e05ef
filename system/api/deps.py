"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from system.client import AsyncClient
from system.registry import Registry


def _client(request: Request) -> AsyncClient:
    client: AsyncClient = request.app.state.client
    return client


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


ClientDep = Annotated[AsyncClient, Depends(_client)]
RegistryDep = Annotated[Registry, Depends(_registry)]
