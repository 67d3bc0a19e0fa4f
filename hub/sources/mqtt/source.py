"""The MQTT source (`HUB_SOURCE=mqtt://host:port`): devices on a broker, laid out as in
hub/sources/mqtt/protocol.py.

`run` connects, subscribes to everything devices publish under `HUB_MQTT_PREFIX`, and turns each message
into hub events: announcements become the hub's templates (`templates_changed`), statuses become
`device_online`/`device_offline` notifications (the broker publishes a dead device's last will `offline`),
telemetry and confirmations are forwarded. Every device message is checked against what that device
announced; a bad one is counted by device and reason (`rejected_device_messages`, shown by `/health` and
`/metrics`), reported at a bounded rate as a `device_message_rejected` notification, and dropped: it never
reaches clients and never stops the source. A sample stamped more than `max_future_s` ahead of the hub's
clock is refused too: accepted, it would make the device's next real samples look like replays.
When the broker goes away `run` raises, and the hub's Supervisor connects again with backoff (reporting
`source_disconnected`/`source_connected`); what the devices announced is kept meanwhile, and the broker
replays the retained announcements and statuses on reconnection.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TypeVar, get_args

import aiomqtt
from pydantic import BaseModel, ValidationError

from hub.errors import SourceUnavailable
from hub.messages import HubNotificationCode
from hub.settings import Settings
from hub.sources.base import CatalogEvents, SourceCommand
from hub.sources.mqtt.devices import Devices
from hub.sources.mqtt.protocol import (
    MAX_PAYLOAD_BYTES,
    Broker,
    CommandPayload,
    ConfirmationPayload,
    NotificationPayload,
    TelemetryPayload,
    Topics,
    explain,
    parse_announce,
    parse_broker_url,
)
from hub.sources.mqtt.rejections import RejectionReason, Rejections
from hub.templates import Templates

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

TIMEOUT_S = 10.0
"""Longest wait for the broker to accept the connection, a subscription or a command."""
SENT_REMEMBERED = 10_000
"""Commands remembered with the device they went to, to refuse a confirmation from another device."""
RESERVED_CODES: frozenset[str] = frozenset(get_args(HubNotificationCode))
"""Notification codes the hub itself reports; a device may not send them."""


class MqttSource:
    """A Source whose devices announce themselves on an MQTT broker; see the module docstring."""

    def __init__(self, broker: Broker, prefix: str = "hub", max_future_s: float = 5.0) -> None:
        self.name = str(broker)
        self.broker = broker
        self.topics = Topics(prefix)
        self.max_future_s = max_future_s
        self.devices = Devices()
        self.rejections = Rejections()
        self._client: aiomqtt.Client | None = None
        self._reported = self.devices.templates
        self._sent: OrderedDict[str, str] = OrderedDict()
        self._last_sample: dict[str, float] = {}  # telemetry id -> timestamp of its last accepted sample

    @property
    def templates(self) -> Templates:
        """What the devices announced so far: empty until the first announcement arrives."""
        return self.devices.templates

    @property
    def connected(self) -> bool:
        """Whether `run` is connected to the broker and subscribed to the device topics."""
        return self._client is not None

    @property
    def rejected_messages(self) -> int:
        """Device messages refused since start-up (bad topic, payload, value, or no announcement)."""
        return self.rejections.total

    def rejected_device_messages(self) -> dict[str, dict[str, int]]:
        """Device messages refused since start-up: device -> reason (a RejectionReason) -> count."""
        return self.rejections.counts()

    async def run(self, events: CatalogEvents) -> None:
        """Receive device messages until cancelled; raise aiomqtt.MqttError when the broker is lost."""
        client = self.broker.client(timeout=TIMEOUT_S)
        async with client:
            await client.subscribe([(pattern, 1) for pattern in self.topics.from_devices()])
            log.info("connected to %s; listening under %s/devices/", self.broker, self.topics.prefix)
            self._client = client
            try:
                async for message in client.messages:
                    topic, payload = message.topic.value, message.payload
                    try:
                        body = payload if isinstance(payload, bytes) else b""
                        self._receive(events, topic, body, message.retain)
                    except Exception:  # a bug must not take the source down for every device
                        log.exception("handling a message on %s failed", topic)
            finally:
                self._client = None

    async def execute(self, command: SourceCommand) -> None:
        """Publish `command` to the device that announced it; SourceUnavailable if it cannot be reached."""
        device = self.devices.owner_of_command(command.command)
        if device is None:
            raise SourceUnavailable(f"no device offers {command.command!r} any more")
        if self.devices.status.get(device) == "offline":
            raise SourceUnavailable(f"device {device} is offline")
        client = self._client
        if client is None:
            raise SourceUnavailable(f"not connected to the broker {self.broker}")
        payload = CommandPayload(
            command_id=command.command_id, command=command.command, parameters=dict(command.parameters)
        )
        self._sent[command.command_id] = device
        if len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)
        await client.publish(self.topics.of(device, "commands"), payload.model_dump_json(), qos=1)

    # --- device messages ---------------------------------------------------------------------------------

    def _receive(self, events: CatalogEvents, topic: str, payload: bytes, retained: bool = False) -> None:
        try:
            device, kind, id = self.topics.parse(topic)
        except ValueError as error:
            self._reject(events, "(unparsed topics)", topic, "bad_topic", str(error))
            return
        if retained and kind in ("telemetry", "confirmations", "notifications"):
            # the broker replays a retained message on every (re)subscription: it would be logged again
            reason = f"retained {kind} are replays: publish them without retain"
            self._reject(events, device, topic, "retained", reason)
        elif len(payload) > MAX_PAYLOAD_BYTES:
            reason = f"{len(payload)} bytes is over {MAX_PAYLOAD_BYTES}"
            self._reject(events, device, topic, "too_large", reason)
        elif kind == "telemetry" and id is not None:
            self._telemetry(events, device, id, topic, payload)
        elif kind == "announce":
            self._announce(events, device, topic, payload)
        elif kind == "status":
            self._status(events, device, topic, payload)
        elif kind == "confirmations":
            self._confirmation(events, device, topic, payload)
        elif kind == "notifications":
            self._notification(events, device, topic, payload)

    def _telemetry(self, events: CatalogEvents, device: str, id: str, topic: str, payload: bytes) -> None:
        telemetry_type = self.devices.telemetry_type(device, id)
        if telemetry_type is None:
            if self.devices.refused(device) and not self.devices.announced(device):
                reason = f"the announcement of device {device} was refused, so its telemetry is too"
            elif self.devices.announced(device):
                reason = f"device {device} did not announce telemetry type {id!r}"
            else:
                reason = f"device {device} sent telemetry before announcing itself"
            self._reject(events, device, topic, "not_announced", reason)
            return
        reading = self._parse(events, device, topic, payload, TelemetryPayload)
        if reading is None:
            return
        try:
            value = telemetry_type.coerce(reading.value)
        except ValueError as error:
            reason = f"value of {id} ({telemetry_type.datatype}): {error}"
            self._reject(events, device, topic, "bad_value", reason)
            return
        ahead = reading.timestamp - time.time()
        if ahead > self.max_future_s:  # a device clock that is wrong: later real samples would look stale
            limit = f"HUB_MQTT_MAX_FUTURE_S={self.max_future_s:g}"
            reason = f"{id} at {reading.timestamp} is {ahead:.1f} s ahead of the hub's clock (over {limit})"
            self._reject(events, device, topic, "future_timestamp", reason)
            return
        previous = self._last_sample.get(id)
        if previous is not None and reading.timestamp <= previous:  # a QoS 1 redelivery, or a device's replay
            reason = f"{id} at {reading.timestamp} is not after its last sample"
            self._reject(events, device, topic, "stale_timestamp", reason)
            return
        self._last_sample[id] = reading.timestamp
        events.telemetry(id, value, reading.timestamp)

    def _announce(self, events: CatalogEvents, device: str, topic: str, payload: bytes) -> None:
        if not payload:  # the retained announcement was cleared: the device is gone for good
            log.info("device %s withdrew its announcement", device)
            self.devices.withdraw(device)
        else:
            try:
                templates = parse_announce(payload)
            except ValueError as error:
                self._reject(events, device, topic, "bad_announcement", f"not a valid announcement: {error}")
                return
            conflict = self.devices.announce(device, templates)
            if conflict is not None:
                message = f"device {device}'s announcement was refused: {conflict}"
                log.error("%s", message)
                events.notification("warning", "templates_conflict", message)
        if self.devices.templates != self._reported:
            self._reported = self.devices.templates
            events.templates_changed(self._reported)

    def _status(self, events: CatalogEvents, device: str, topic: str, payload: bytes) -> None:
        if not payload:  # a cleared retained status
            self.devices.set_status(device, None)
            return
        if payload == b"online":
            if self.devices.set_status(device, "online"):
                log.info("device %s is online", device)
                events.notification("info", "device_online", f"device {device} is online")
        elif payload == b"offline":
            if self.devices.set_status(device, "offline"):
                log.warning("device %s is offline", device)
                events.notification("warning", "device_offline", f"device {device} is offline")
        else:
            reason = f"a status is online or offline, not {payload[:40]!r}"
            self._reject(events, device, topic, "bad_payload", reason)

    def _confirmation(self, events: CatalogEvents, device: str, topic: str, payload: bytes) -> None:
        confirmation = self._parse(events, device, topic, payload, ConfirmationPayload)
        if confirmation is None:
            return
        sent_to = self._sent.get(confirmation.command_id, device)
        if sent_to != device:
            reason = f"command {confirmation.command_id} was sent to device {sent_to}, not {device}"
            self._reject(events, device, topic, "wrong_device", reason)
            return
        events.confirmation(confirmation.command_id, confirmation.status, confirmation.message)
        if confirmation.status != "executing":
            self._sent.pop(confirmation.command_id, None)

    def _notification(self, events: CatalogEvents, device: str, topic: str, payload: bytes) -> None:
        notification = self._parse(events, device, topic, payload, NotificationPayload)
        if notification is None:
            return
        if notification.code in RESERVED_CODES:
            reason = f"code {notification.code!r} is reserved for the hub"
            self._reject(events, device, topic, "reserved_code", reason)
            return
        events.notification(notification.level, notification.code, f"{device}: {notification.message}")

    def _parse(
        self, events: CatalogEvents, device: str, topic: str, payload: bytes, model: type[M]
    ) -> M | None:
        try:
            return model.model_validate_json(payload)
        except ValidationError as error:
            self._reject(events, device, topic, "bad_payload", explain(error))
            return None

    def _reject(
        self, events: CatalogEvents, device: str, topic: str, reason: RejectionReason, detail: str
    ) -> None:
        report = self.rejections.reject(device, topic, reason, detail)
        if report is not None:
            log.warning("%s", report)
            events.notification("warning", "device_message_rejected", report)


def from_settings(settings: Settings) -> MqttSource:
    """The registry's factory for `HUB_SOURCE=mqtt://host:port`, with the topics under HUB_MQTT_PREFIX."""
    broker = parse_broker_url(settings.source, "HUB_SOURCE")
    return MqttSource(broker, settings.mqtt_prefix, settings.mqtt_max_future_s)
