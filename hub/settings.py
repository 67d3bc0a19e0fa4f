"""The hub's settings: one object, built once from `HUB_*` environment variables and `main.py` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Every setting has an environment variable `HUB_<NAME>` and a `main.py` flag `--<name>`; flags win."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")
    templates_dir: Path = Field(Path("templates"), description="Directory with the two template YAML files.")
    source: str = Field("simulator", description="Telemetry source: a name from the source registry.")
    history_url: str = Field(
        "sqlite:///data/history.db", description="History log: sqlite:///path/to/file.db or memory://."
    )
    history_flush_interval_s: float = Field(
        0.1, gt=0, le=0.1, description="Longest time a message waits before it is written to the log."
    )
    history_retention_s: float | None = Field(
        None, gt=0, description="Delete messages older than this many seconds (default: keep everything)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        ["http://localhost:4200"], description="Comma-separated origins allowed to connect (browsers)."
    )
    max_clients: int = Field(10_000, ge=1, description="Connections past this number are refused.")
    max_replay: int = Field(
        10_000, ge=0, description="Most messages a resume (subscribe with since) replays; past it, reload."
    )
    ping_interval_s: float = Field(
        25.0, gt=0, description="Engine.IO ping interval: how often clients are probed."
    )
    ping_timeout_s: float = Field(
        20.0, gt=0, description="A client that has not answered a ping within this time is disconnected."
    )
    admin_token: str | None = Field(
        None, description="Bearer token that allows DELETE /historical-data (disabled when unset)."
    )
    log_level: LogLevel = Field("info", description="debug, info, warning, error or critical.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _real_origins(cls, origins: list[str]) -> list[str]:
        if not origins:
            raise ValueError("give at least one origin (an empty list would switch the origin check off)")
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin such as http://localhost:4200")
        return origins

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: str | None) -> str | None:
        if token is not None and len(token) < 16:
            raise ValueError("use at least 16 characters")
        return token
