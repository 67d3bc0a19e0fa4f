"""Data messages stored as (seq, sensor, time, typed value) and rebuilt on read, byte for byte.

The hub streams a data message as the compact JSON of {type, id, value, timestamp, seq}
(`Publisher.data`), a function of the id, the value, the time and the seq alone; so the log keeps only
those and `payload` rebuilds the text with the same encoder. A record is stored this way only when
rebuilding gives back exactly the text that was streamed (always, for what the publisher writes); any other
data record (a value the typed column cannot hold, such as an integer beyond 64 bits) keeps its text.

A sensor is an id with the kind of its values (bool, int, float, str): the value column then needs no
tag, and a bool never reads back as an int.
"""

from __future__ import annotations

from typing import Literal

import orjson

from hub import codec
from hub.history.base import Record
from hub.messages import format_timestamp
from hub.templates import Value

Kind = Literal["bool", "int", "float", "str"]
KINDS: dict[type, Kind] = {bool: "bool", int: "int", float: "float", str: "str"}
INT64 = 2**63
_MISSING = object()


def payload(telemetry_id: str, seq: int, time_us: int, value: Value) -> str:
    """The JSON text the hub streamed for this data message."""
    return codec.dumps(
        {
            "type": "data",
            "id": telemetry_id,
            "value": value,
            "timestamp": format_timestamp(time_us),
            "seq": seq,
        }
    )


def value_of(record: Record) -> Value | None:
    """The value of a data record, from the record or its text; None when it has none."""
    if record.value is not None:
        return record.value
    try:
        found = orjson.loads(record.payload).get("value", _MISSING)
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return None if found is _MISSING or type(found) not in KINDS else found


def compact(record: Record) -> tuple[Kind, Value] | None:
    """The kind and value to store for a data record, or None when its text must be kept as it is."""
    value = record.value
    if value is None or record.id is None:
        return _from_text(record)
    kind = KINDS.get(type(value))
    if kind == "float":
        return None if value - value else (kind, value)  # type: ignore[operator]  # inf or nan: not 0
    if kind == "int":
        return (kind, value) if -INT64 <= value < INT64 else None  # type: ignore[operator]
    return None if kind is None else (kind, value)


def _from_text(record: Record) -> tuple[Kind, Value] | None:
    """A record whose value is not given (it came from a stream, a test): stored compactly only when its
    text is exactly what the hub streams for that value."""
    value = value_of(record)
    if value is None or record.id is None:
        return None
    found = compact(Record(record.seq, record.type, record.id, record.time_us, record.payload, value))
    if found is None or payload(record.id, record.seq, record.time_us, value) != record.payload:
        return None
    return found
