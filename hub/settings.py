"""The hub's settings: one object, built once from `HUB_*` environment variables and `main.py` flags."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub.errors import ConfigurationError
from hub.history import tiers
from hub.history.retention import Retention

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LogFormat = Literal["text", "json"]


class Settings(BaseSettings):
    """Every setting has an environment variable `HUB_<NAME>` and a `main.py` flag `--<name>`; flags win."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")
    templates_dir: Path = Field(Path("templates"), description="Directory with the two template YAML files.")
    source: str = Field(
        "simulator",
        description="Telemetry source: a name from the source registry, or mqtt://host:port (MQTT devices).",
    )
    mqtt_prefix: str = Field(
        "hub",
        max_length=200,
        pattern=r"^[^/#+$\x00][^/#+\x00]*(/[^/#+\x00]+)*$",
        description="MQTT source: the topic levels every device topic starts with (no wildcards, no / at "
        "either end).",
    )
    mqtt_max_future_s: float = Field(
        5.0,
        ge=0,
        allow_inf_nan=False,
        description="MQTT source: device samples stamped more than this many seconds ahead of the hub's "
        "clock are refused (a wrong device clock).",
    )
    history_url: str = Field(
        "sqlite:///data/history.db",
        description="History log: sqlite:///path/to/file.db, postgresql://user@host:port/database or memory://.",
    )
    history_flush_interval_s: float = Field(
        0.1, gt=0, le=0.1, description="Longest time a message waits before it is written to the log."
    )
    history_retention_s: float | None = Field(
        None, gt=0, description="Delete messages older than this many seconds (default: keep everything)."
    )
    history_rollup_retention: str = Field(
        tiers.DEFAULT,
        description="Rollup resolutions and how long each is kept, WIDTH=PERIOD or WIDTH=forever, comma-"
        "separated (docs/history.md); needs 1m, kept at least as long as raw records.",
    )
    history_max_bytes: int | None = Field(
        None,
        gt=0,
        description="Size bound of the log: past it the oldest raw records go, then the finest rollups "
        "(default: none).",
    )
    redis_url: str | None = Field(
        None,
        pattern=r"^(redis|rediss|unix)://",
        description="Run as one of several hub processes sharing this Redis (redis://host:6379/0); needs a "
        "PostgreSQL HUB_HISTORY_URL shared by all of them.",
    )
    redis_channel: str = Field(
        "hub",
        min_length=1,
        max_length=100,
        description="With HUB_REDIS_URL: the name the processes of one hub share (Redis channel, keys).",
    )
    ws_deflate: bool = Field(
        False, description="Per-message deflate on websockets: smaller frames for much more CPU per message."
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
        None, description="One more admin token, in clear (clears history; the Admin UI). Unset: none."
    )
    tokens_file: Path | None = Field(
        None, description="YAML file of tokens with roles, stored hashed (python -m hub.auth new ROLE NAME)."
    )
    tokens: str | None = Field(
        None, description="More tokens as role:sha256,role:sha256 (viewer/operator/admin)."
    )
    allow_anonymous: bool = Field(
        False,
        description="Allow a non-loopback HUB_HOST with no role token in effect (anyone may command).",
    )
    command_rate: float = Field(5.0, gt=0, description="Commands a second one client may send, on average.")
    command_burst: int = Field(
        10, ge=1, description="Commands one client may send at once before the rate applies."
    )
    event_rate: float = Field(
        50.0, gt=0, description="Events a second one connection may send, of any kind, on average."
    )
    event_burst: int = Field(
        200,
        ge=1,
        description="Events one connection may send at once before HUB_EVENT_RATE applies; as many more "
        "refused ones and it is disconnected for flooding.",
    )
    address_event_rate: float = Field(
        500.0,
        gt=0,
        description="Events and connects a second all connections from one client address may send, on "
        "average.",
    )
    address_event_burst: int = Field(
        2000, ge=1, description="Events and connects all connections from one address may send at once."
    )
    max_events_in_flight: int = Field(
        1000, ge=1, description="Events of all connections being handled at once; past it, rate_limited."
    )
    max_replays: int = Field(
        4, ge=1, description="Resumes (subscribe with since) replaying at once; the others wait their turn."
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Largest request head (all its headers) an HTTP request may have (431)."
    )
    max_handshakes: int = Field(
        1000,
        ge=1,
        description="Engine.IO sessions not connected to the namespace at once; past it, handshakes get 503.",
    )
    handshake_timeout_s: float = Field(
        10.0, gt=0, description="A session that does not connect to the namespace within this time is closed."
    )
    client_queue_limit: int = Field(
        10_000,
        ge=10,
        description="Messages queued for one client past which it is disconnected (it may resume).",
    )
    max_message_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="Largest message a client may send; a connection sending more is closed.",
    )
    admin_ui: bool = Field(
        False,
        description="Serve the Socket.IO Admin UI namespace (/admin), for admin tokens only, and the UI at "
        "/admin-ui/.",
    )
    admin_ui_mode: Literal["production", "development"] = Field(
        "production",
        description="Admin UI: production (server figures), or development (also every socket, its rooms "
        "and the events clients send, at one more emit to /admin for each).",
    )
    admin_ui_dir: Path = Field(
        Path("clients/admin-ui"),
        description="Where `npm ci --prefix clients/admin-ui` installed the Admin UI served at /admin-ui/.",
    )
    log_level: LogLevel = Field("info", description="debug, info, warning, error or critical.")
    log_format: LogFormat = Field(
        "text",
        description="Log lines on stderr: text (readable), or json (one JSON object a line: timestamp, "
        "level, logger, message, exception).",
    )

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

    @property
    def anonymous_allowed(self) -> bool:
        """May the hub run with no role token in effect (open to anyone)? Only on loopback, or when allowed
        explicitly. Decided on the tokens actually loaded, at start-up and on reload (hub/auth.py)."""
        return self.allow_anonymous or _loopback(self.host)

    @property
    def retention(self) -> Retention:
        """What the log keeps (checked at start-up by `_rollup_tiers`)."""
        rollups = tiers.parse(self.history_rollup_retention, self.history_retention_s)
        return Retention(self.history_retention_s, rollups, self.history_max_bytes)

    @model_validator(mode="after")
    def _rollup_tiers(self) -> Settings:
        try:
            tiers.parse(self.history_rollup_retention, self.history_retention_s)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return self

    @model_validator(mode="after")
    def _shared_history_for_several_processes(self) -> Settings:
        if self.redis_url is not None and not self.history_url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"HUB_REDIS_URL is set, so several hub processes share one log, but HUB_HISTORY_URL="
                f"{self.history_url} is not shared: use postgresql://user@host:port/database"
            )
        return self

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: str | None) -> str | None:
        if token is not None and len(token) < 16:
            raise ValueError("use at least 16 characters")
        return token


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
