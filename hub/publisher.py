"""Turns what happens into messages: assigns each its `seq`, appends it to the log, queues it for delivery
(and, with several hub processes, hands it to the others)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hub import codec
from hub.commands import PendingCommand
from hub.fanout import FanOut
from hub.history import HistoryLog, Record
from hub.messages import (
    MESSAGE_TYPES,
    CommandStatus,
    Confirmation,
    DataMessage,
    HubNotificationCode,
    Level,
    Message,
    Notification,
    format_timestamp,
    to_micros,
)
from hub.templates import Value


class Publisher:
    """Makes every message the hub sends: numbers it, logs it, queues it for delivery, and hands it to
    `forward` when there is one (the stream to the other hub processes, while this one leads)."""

    def __init__(
        self, history: HistoryLog, fanout: FanOut, forward: Callable[[Record], None] | None = None
    ) -> None:
        self.history = history
        self.fanout = fanout
        self._forward = forward
        self.published: dict[str, int] = dict.fromkeys(MESSAGE_TYPES, 0)
        """Messages published, by type (for the metrics)."""

    def forward_to(self, forward: Callable[[Record], None] | None) -> None:
        """From now on hand every message to `forward` too (None: to nobody): the cluster says so as this
        process starts and stops leading."""
        self._forward = forward

    def data(self, id: str, value: Value, time_us: int) -> DataMessage:
        """A checked value (the hot path: the model is built without validating again)."""
        message = DataMessage.model_construct(
            id=id, value=value, timestamp=format_timestamp(time_us), seq=self.history.next_seq()
        )
        self._publish(message, time_us, value)
        return message

    def notification(
        self,
        level: Level,
        code: HubNotificationCode,
        message: str,
        id: str | None = None,
        details: dict[str, Any] | None = None,
        time_us: int | None = None,
    ) -> Notification:
        """One of the hub's own notifications (a code of the closed set)."""
        return self._notification(level, code, message, id, details, time_us)

    def source_notification(
        self, level: Level, code: str, message: str, id: str | None = None
    ) -> Notification:
        """A notification the source reported, with a code of its own (the MQTT source refuses a device's
        that would pass for one of the hub's)."""
        return self._notification(level, code, message, id, None, None)

    def _notification(
        self,
        level: Level,
        code: str,
        message: str,
        id: str | None,
        details: dict[str, Any] | None,
        time_us: int | None,
    ) -> Notification:
        now = to_micros(time.time()) if time_us is None else time_us
        notification = Notification(
            level=level,
            code=code,
            message=message,
            id=id,
            details=details,
            timestamp=format_timestamp(now),
            seq=self.history.next_seq(),
        )
        self._publish(notification, now)
        return notification

    def confirmation(
        self,
        pending: PendingCommand,
        status: CommandStatus,
        message: str,
        parameters: dict[str, Value] | None = None,
    ) -> Confirmation:
        now = to_micros(time.time())
        confirmation = Confirmation(
            command_id=pending.command_id,
            command=pending.command,
            request_id=pending.request_id,
            status=status,
            message=message,
            parameters=parameters,
            timestamp=format_timestamp(now),
            seq=self.history.next_seq(),
        )
        self._publish(confirmation, now)
        return confirmation

    def _publish(self, message: Message, time_us: int, value: Value | None = None) -> None:
        text = codec.dumps(message.model_dump(exclude_none=True))
        record = Record(message.seq, message.type, getattr(message, "id", None), time_us, text, value)
        self.history.append(record)
        self.fanout.publish(record)
        self.published[record.type] = self.published.get(record.type, 0) + 1
        if self._forward is not None:
            self._forward(record)
