"""The JSON codec python-socketio uses for every packet, through its `json=` extension point.

Decoding: python-engineio's own codec raises on integers of more than 100 digits, which drops the whole
packet: the client's call never gets an ack. Here such a number decodes to a `HugeInteger` instead, which
validation then refuses with a normal error ack.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

MAX_DIGITS = 100


class HugeInteger:
    """An integer literal too long to convert (converting is quadratic in its length)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


def _parse_int(text: str) -> int | HugeInteger:
    return int(text) if len(text) <= MAX_DIGITS else HugeInteger(len(text))


def loads(text: str | bytes, **options: Any) -> Any:
    options.setdefault("parse_int", _parse_int)
    return json.loads(text, **options)


def dumps(value: Any, **options: Any) -> str:
    """Compact JSON (orjson, several times faster than the standard library on telemetry messages); the
    standard library for what orjson refuses, such as integers beyond 64 bits. `options` are ignored: the
    output is always compact UTF-8, as Socket.IO needs."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
