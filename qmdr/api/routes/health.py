"""GET /health: liveness plus the effective configuration (key sources, never values)."""

from __future__ import annotations

from fastapi import APIRouter

from qmdr.api.deps import ServiceDep
from qmdr.api.schemas import HealthModel

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthModel)
async def health(service: ServiceDep) -> HealthModel:
    """Always open (no token): the container healthcheck and load balancers call it."""
    return HealthModel(**service.health())
