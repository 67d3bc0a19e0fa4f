"""hub/web/problems.py: HTTP refusals carry the error code an ack would, with the status it maps to, and the
OpenAPI document says which codes each status carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, get_args

import httpx
import pytest

from hub.app import create_app
from hub.auth import hash_token
from hub.errors import ErrorCode
from hub.settings import Settings
from hub.web.problems import STATUS
from tests.conftest import ADMIN_TOKEN, RunningHub
from tests.fakes import FakeSource, UnreadableHistory
from tests.support import serve

VIEWER_TOKEN = "viewer-token-abcdefghijklmnop"


@pytest.fixture
async def http(running: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running hub."""
    async with httpx.AsyncClient(base_url=running.url) as client:
        yield client


def test_every_error_code_has_an_http_status() -> None:
    """No code of ErrorCode lacks a status, so the one exception handler answers every HubError."""
    assert set(STATUS) == set(get_args(ErrorCode))
    assert all(400 <= status < 600 for status in STATUS.values())


async def test_an_unknown_id_has_the_same_code_over_http_as_in_an_ack(
    running: RunningHub, http: httpx.AsyncClient
) -> None:
    """An unknown telemetry id is unknown_telemetry_type in a subscribe ack and in the 422 of
    /historical-data, whose message and detail name the parameter."""
    client = await running.client()
    ack = await client.call("subscribe", {"ids": ["nope"]})
    response = await http.get("/historical-data", params={"ids": "voltage,nope"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == ack["error"]["code"] == "unknown_telemetry_type"
    assert body["message"] == "ids: unknown telemetry types ['nope']"
    assert body["detail"] == [{"parameter": "ids", "in": "query", "message": body["message"]}]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),  # refused by FastAPI's own validation
        ({"ids": "voltage", "interval": "5x", "agg": "min"}, "interval"),  # by the hub's checks
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
async def test_a_bad_parameter_is_422_bad_request_naming_it(
    http: httpx.AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    """A parameter that does not parse or makes no sense is 422 with code bad_request, naming it."""
    response = await http.get("/historical-data", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "bad_request" and body["message"].startswith(f"{parameter}: ")
    assert body["detail"][0]["parameter"] == parameter and body["detail"][0]["in"] == "query"


@pytest.mark.parametrize(
    "settings", [{"tokens": f"viewer:{hash_token(VIEWER_TOKEN)}"}], indirect=True, ids=["viewer-token"]
)
async def test_access_refusals_are_unauthorized_and_forbidden(http: httpx.AsyncClient) -> None:
    """No token or an unknown one is 401 unauthorized (with WWW-Authenticate: Bearer); a token whose role
    is not enough is 403 forbidden."""
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = await http.delete("/historical-data", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["code"] == "unauthorized" and "Bearer" in response.json()["message"]
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    assert (await http.get("/telemetry-types", headers=viewer)).status_code == 200
    response = await http.delete("/historical-data", headers=viewer)
    assert response.status_code == 403
    assert response.json() == {
        "code": "forbidden",
        "message": "this needs the admin role; viewer-0 is a viewer",
    }


async def test_an_unreadable_log_is_503_history_unavailable(source: FakeSource, settings: Settings) -> None:
    """A history log that cannot be read is 503 with code history_unavailable and the reason."""
    async with (
        serve(create_app(settings, source=source, history=UnreadableHistory())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        response = await http.get("/historical-data", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 503
    assert response.json()["code"] == "history_unavailable" and "disk I/O error" in response.json()["message"]


async def test_the_openapi_document_names_the_codes_of_each_refusal(http: httpx.AsyncClient) -> None:
    """Each documented refusal status of /historical-data names its codes, and a Problem's code is one of
    ErrorCode."""
    document = (await http.get("/openapi.json")).json()
    answers = document["paths"]["/historical-data"]["get"]["responses"]
    expected = {
        "401": ["unauthorized"],
        "403": ["forbidden"],
        "422": ["bad_request", "unknown_telemetry_type"],
        "503": ["history_unavailable"],
    }
    for status, codes in expected.items():
        assert all(f"`{code}`" in answers[status]["description"] for code in codes), answers[status]
    problem = document["components"]["schemas"]["Problem"]
    assert problem["properties"]["code"]["enum"] == list(get_args(ErrorCode))
    assert "code" in problem["required"]
