"""Routes for operators and their tools: `/health` (for load balancers and people) and `/metrics`
(for Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.health import Health
from hub.web.dependencies import ACCESS, VIEWER, CurrentHub, Metrics
from hub.web.problems import responses

router = APIRouter()

METRICS_CONTENT = {
    media_type: {"schema": {"type": "string"}}
    for media_type in ("text/plain", "application/openmetrics-text")
}


@router.get("/health", summary="Hub status: ok, or degraded with a reason")
async def health(hub: CurrentHub) -> Health:
    return hub.health()


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format; OpenMetrics if the Accept header asks for it)",
    response_class=Response,
    responses={200: {"description": "The metrics", "content": METRICS_CONTENT}, **responses(*ACCESS)},
    dependencies=[VIEWER],
)
async def metrics(request: Request, hub_metrics: Metrics) -> Response:
    body, content_type = hub_metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
