"""Routes describing what the hub offers: its telemetry types and command templates (which follow the source,
so they change when a device announces itself), and its Socket.IO contract as an AsyncAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hub import contract
from hub.templates import CommandTemplate, TelemetryType
from hub.web.dependencies import ACCESS, VIEWER, CurrentHub
from hub.web.problems import responses

router = APIRouter()


@router.get(
    "/telemetry-types",
    summary="Telemetry type definitions",
    dependencies=[VIEWER],
    responses=responses(*ACCESS),
)
async def telemetry_types(hub: CurrentHub) -> list[TelemetryType]:
    return list(hub.catalog.templates.telemetry_types)


@router.get(
    "/command-templates",
    summary="Command templates with their parameters",
    dependencies=[VIEWER],
    responses=responses(*ACCESS),
)
async def command_templates(hub: CurrentHub) -> list[CommandTemplate]:
    return list(hub.catalog.templates.command_templates)


@router.get(
    "/asyncapi.json",
    summary="The Socket.IO contract as an AsyncAPI 3 document (events, payloads, acks)",
    response_description="AsyncAPI 3.0.0; its server is this hub as the request reached it",
)
async def asyncapi_document(request: Request) -> dict[str, Any]:
    return contract.asyncapi(host=request.url.netloc)
