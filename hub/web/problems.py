"""How the HTTP API refuses a request: the `HubError` code's status, and the body every 4xx and 5xx has.

A refusal over HTTP carries the code the same error carries in a Socket.IO ack (hub/errors.py), in a
`Problem` whose message names the parameter at fault. `install` adds the one exception handler that turns
any `HubError` into its answer (and FastAPI's own validation errors into `bad_request`); `responses` documents
the statuses of a route, with the codes each may carry, in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import BadRequest, ErrorCode, HubError

STATUS: dict[ErrorCode, int] = {
    "bad_request": 422,
    "unknown_telemetry_type": 422,
    "unknown_command": 422,
    "invalid_parameters": 422,
    "unknown_event": 404,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "internal_error": 500,
    "source_unavailable": 503,
    "history_unavailable": 503,
    "too_many_clients": 503,
}
"""The HTTP status of each error code (a malformed parameter is 422, as in FastAPI's own validation)."""

WHEN: dict[ErrorCode, str] = {
    "unauthorized": "No token, or one the hub does not know",
    "forbidden": "The token's role is not enough (or no admin token exists, for DELETE)",
    "bad_request": "A parameter is invalid; the message names it",
    "unknown_telemetry_type": "`ids` names a telemetry type the hub does not know",
    "history_unavailable": "The history log cannot be used right now; the message says why",
}
"""When the HTTP API answers each code it uses (the OpenAPI descriptions of its refusals)."""


class ProblemDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    parameter: str
    in_: str = Field(alias="in")
    message: str


class Problem(BaseModel):
    """Every 4xx and 5xx answer: the error's code, the same as in Socket.IO acks, and a message for people,
    naming the parameter at fault where there is one."""

    code: ErrorCode
    message: str
    detail: list[ProblemDetail] | None = None


class ParameterError(BadRequest):
    """A query parameter that parsed but makes no sense: `bad_request`, naming it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}", parameter=parameter)


def install(app: FastAPI) -> None:
    """Answer every HubError, and every request FastAPI finds invalid, with a `Problem`."""
    app.exception_handler(HubError)(refused)
    app.exception_handler(RequestValidationError)(invalid)


async def refused(request: Request, error: HubError) -> JSONResponse:
    """A HubError as its status and a `Problem` with its code."""
    detail = None
    if error.parameter is not None:
        detail = [ProblemDetail(parameter=error.parameter, in_="query", message=error.message)]
    status = STATUS[error.code]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _answer(Problem(code=error.code, message=error.message, detail=detail), status, headers)


async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    """A parameter FastAPI could not parse (a number that is not one): 422 `bad_request`, naming it."""
    detail = [
        ProblemDetail(parameter=str(e["loc"][-1]), in_=str(e["loc"][0]), message=e["msg"])
        for e in error.errors()
    ]
    message = "; ".join(f"{d.parameter}: {d.message}" for d in detail)
    return _answer(Problem(code=BadRequest.code, message=message, detail=detail), STATUS[BadRequest.code])


def _answer(problem: Problem, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(by_alias=True, exclude_none=True), status_code=status, headers=headers
    )


def responses(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route may answer: each status, with when each of its codes is
    answered."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS[code], []).append(f"{WHEN[code]} (code `{code}`)")
    return {status: {"model": Problem, "description": "; ".join(when)} for status, when in by_status.items()}
