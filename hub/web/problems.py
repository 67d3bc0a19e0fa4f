"""How the HTTP API refuses a request: the exception a handler raises, and the body every 4xx and 5xx has."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProblemDetail(BaseModel):
    parameter: str
    in_: str = Field(alias="in")
    message: str


class Problem(BaseModel):
    """Every 4xx and 5xx answer: a message for people, naming the parameter at fault where there is one."""

    message: str
    detail: list[ProblemDetail] | None = None


class Refused(Exception):
    """A request the hub turns down with `status` and a message saying what to do (a `Problem`)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        detail: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.detail = detail


class ParameterError(Refused):
    """A query parameter that parsed but makes no sense: 422, naming it."""

    def __init__(self, parameter: str, message: str) -> None:
        text = f"{parameter}: {message}"
        super().__init__(422, text, detail=[{"parameter": parameter, "in": "query", "message": text}])
        self.parameter = parameter
