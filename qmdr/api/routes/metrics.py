"""GET /metrics: Prometheus text format (latency per route and search stage, provider calls, index sizes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from qmdr.api.deps import Authorized
from qmdr.observability import PROMETHEUS_CONTENT_TYPE

router = APIRouter(tags=["metrics"], dependencies=[Authorized])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus scrape endpoint (needs the API token like every route but /health)."""
    return Response(request.app.state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
