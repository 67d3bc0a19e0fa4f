"""The contract between devices and the hub over MQTT: the broker URL, the topic layout and the payloads.

Every topic starts with a prefix (`HUB_MQTT_PREFIX`, default `hub`, so several hubs or test runs can share a
broker). For a device named `craft1` (letters, digits, `_`, `.`, `-`):

- `{prefix}/devices/craft1/announce` (device, retained): its templates as JSON, in the shape of the YAML
  files: `{"telemetry_types": [...], "command_templates": [...]}`;
- `{prefix}/devices/craft1/status` (device, retained): `online`, or `offline` (also its last will);
- `{prefix}/devices/craft1/telemetry/{id}` (device): `{"value": ..., "timestamp": <epoch seconds, float>}`;
- `{prefix}/devices/craft1/commands` (hub): `{"command_id": ..., "command": ..., "parameters": {...}}`;
- `{prefix}/devices/craft1/confirmations` (device): `{"command_id": ..., "status": ..., "message": ...}`,
  status `executing`, then `completed` or `failed`;
- `{prefix}/devices/craft1/notifications` (device, optional): `{"level": ..., "code": ..., "message": ...}`.

A device connects with the last will `offline` (retained) on its status topic, then publishes its
announcement and `online`, both retained, so a hub that starts later learns of it at once. An empty retained
message clears a topic: clearing `announce` withdraws the device's templates from the hub. Announcements,
statuses, commands and confirmations use QoS 1; telemetry may use QoS 0, and is never retained (the hub
refuses retained telemetry, and a sample not later than its id's last one, so nothing is logged twice; and
a sample stamped more than `HUB_MQTT_MAX_FUTURE_S` ahead of its clock, so a wrong device clock cannot hold
back the samples that follow).
These models are used by the hub (hub/sources/mqtt/source.py) and by the device emulator
(simulators/mqtt_device.py) alike.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigurationError, summarize
from hub.messages import Level, SourceStatus
from hub.templates import Templates, Value

Kind = Literal["announce", "status", "telemetry", "commands", "confirmations", "notifications"]
Status = Literal["online", "offline"]
KINDS: frozenset[str] = frozenset(get_args(Kind))
DEVICE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_PAYLOAD_BYTES = 1_000_000
"""Larger device messages are refused unread: a device must not make the hub parse megabytes."""
MAX_TIMESTAMP_S = 253_402_300_800.0
"""The year 10000: later timestamps cannot be written as ISO 8601."""
DEFAULT_PORT = 1883
KEEPALIVE_S = 10
"""MQTT keepalive of the hub and the emulator: a broker that stops answering is noticed within about 1.5
times this, and so is a dead device (its last will)."""


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the broker is, from an `mqtt://[user:password@]host[:port]` URL."""

    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        return f"mqtt://{self.host}:{self.port}"

    def client(self, **options: Any) -> aiomqtt.Client:
        """A client of this broker, with its credentials and the KEEPALIVE_S both ends use; `options` are
        aiomqtt's (a last will, a timeout)."""
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            keepalive=KEEPALIVE_S,
            **options,
        )


def parse_broker_url(url: str, setting: str) -> Broker:
    """The broker of `url`; ConfigurationError naming `setting` (HUB_SOURCE, --broker) says what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"{setting}: {_redacted(url)!r} is not a broker URL: {error}") from None
    shown = f"{setting}={_redacted(url)!r}"
    if parts.scheme != "mqtt":
        raise ConfigurationError(f"{shown}: the broker URL must start with mqtt://")
    if not parts.hostname:
        raise ConfigurationError(
            f"{shown}: no broker host; expected mqtt://host:port, e.g. mqtt://127.0.0.1:1883"
        )
    if port == 0:
        raise ConfigurationError(f"{shown}: port 0 is not a broker's port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{shown}: a broker URL has no path or query (the topic prefix is HUB_MQTT_PREFIX)"
        )
    return Broker(parts.hostname, port or DEFAULT_PORT, parts.username, parts.password)


def _redacted(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.partition("://")[2]:
        return url
    return f"{head.rpartition(':')[0]}:***@{tail}"


class Topics:
    """Topic names under one prefix, and the reverse: which device and kind a topic is about."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._devices = f"{prefix}/devices/"

    def of(self, device: str, kind: Kind, id: str | None = None) -> str:
        topic = f"{self._devices}{device}/{kind}"
        return topic if id is None else f"{topic}/{id}"

    def from_devices(self) -> tuple[str, ...]:
        """What the hub subscribes to: everything devices publish (not the commands it publishes itself)."""
        kinds = ("announce", "status", "telemetry/+", "confirmations", "notifications")
        return tuple(f"{self._devices}+/{kind}" for kind in kinds)

    def parse(self, topic: str) -> tuple[str, Kind, str | None]:
        """(device, kind, telemetry id or None) of a topic; ValueError says why it is not a device topic."""
        if not topic.startswith(self._devices):
            raise ValueError(f"not under {self._devices}")
        device, _, rest = topic[len(self._devices) :].partition("/")
        if not DEVICE_PATTERN.match(device):
            raise ValueError(f"{device!r} is not a device name (letters, digits, _ . -; at most 64)")
        kind, _, id = rest.partition("/")
        if kind not in KINDS or (kind == "telemetry") != bool(id):
            raise ValueError(f"unexpected topic level {rest!r} after the device name")
        return device, kind, id or None  # type: ignore[return-value]  # kind is in KINDS


class _Payload(BaseModel):
    # strict: "5" is not a number and true is not a timestamp
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TelemetryPayload(_Payload):
    value: Any = Field(description="Checked against the device's announced datatype.")
    timestamp: float = Field(ge=0, lt=MAX_TIMESTAMP_S, allow_inf_nan=False, description="Epoch seconds.")


class CommandPayload(_Payload):
    command_id: Annotated[str, Field(min_length=1, max_length=128)]
    command: str
    parameters: dict[str, Value] = {}


class ConfirmationPayload(_Payload):
    command_id: Annotated[str, Field(min_length=1, max_length=128)]
    status: SourceStatus
    message: Annotated[str, Field(max_length=1000)] = ""


class NotificationPayload(_Payload):
    level: Level
    code: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
    message: Annotated[str, Field(max_length=1000)]


def parse_announce(payload: bytes) -> Templates:
    """A device's announcement, validated like the template files; ValueError says what is wrong."""
    try:
        templates = Templates.model_validate_json(payload)
    except ValidationError as error:
        raise ValueError(explain(error)) from None
    for what, names in (
        ("telemetry id", [t.id for t in templates.telemetry_types]),
        ("command", [c.command for c in templates.command_templates]),
    ):
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate {what} {duplicates[0]!r}")
    return templates


def explain(error: ValidationError) -> str:
    """A device message's problems in one line, at most three of them (a broken device's payload may have
    hundreds, and the line goes into a notification)."""
    return summarize(error, "payload", most=3)
