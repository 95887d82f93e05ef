"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from system.api.deps import ClientDep
from system.api.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> Health:
    """The process is alive (does not touch Redis)."""
    return Health(status="ok")


@router.get("/readyz", operation_id="readyz")
async def readyz(client: ClientDep) -> Health:
    """Redis answers; 503 problem otherwise."""
    await client.redis.ping()
    return Health(status="ready")
