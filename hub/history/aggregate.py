"""Bucket summaries and min/max downsampling in Python: the reference that the SQL backends match.

The memory backend answers with these functions, and `HistoryLog` uses them for the records it has not
written yet: it asks its backend only for the records below the first unwritten `seq`, computes the rest
here and merges, so that aggregates include every record appended so far, exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from hub.history.base import Buckets, Number, Record, Summary, in_buckets


def value(payload: str) -> Any:
    """The `value` of a data message's JSON text."""
    return orjson.loads(payload)["value"]


def _groups(records: Iterable[Record], buckets: Buckets) -> dict[tuple[str, int], list[Record]]:
    """The records `buckets` covers by (id, bucket), each list in seq order, the keys sorted."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        if in_buckets(record, buckets):
            key = (record.id or "", (record.time_us - buckets.origin_us) // buckets.width_us)
            groups.setdefault(key, []).append(record)
    for members in groups.values():
        members.sort(key=lambda r: r.seq)
    return dict(sorted(groups.items()))


def summarize(records: Iterable[Record], buckets: Buckets) -> list[Summary]:
    """What `HistoryBackend.summarize` answers, over `records`."""
    found = []
    for (telemetry_id, bucket), members in _groups(records, buckets).items():
        low = high = total = None
        if buckets.numeric:
            values: list[Number] = [value(r.payload) for r in members]
            low, high, total = min(values), max(values), sum(float(v) for v in values)
        first, last = members[0], members[-1]
        found.append(
            Summary(
                telemetry_id,
                bucket,
                len(members),
                low,
                high,
                total,
                first.seq,
                first.payload,
                last.seq,
                last.payload,
            )
        )
    return found[: buckets.limit]


def extremes(records: Iterable[Record], buckets: Buckets) -> list[Record]:
    """What `HistoryBackend.extremes` answers, over `records`."""
    chosen: list[Record] = []
    for members in _groups(records, buckets).values():
        valued = [(value(r.payload), r) for r in members]
        low = min(valued, key=lambda pair: pair[0])[1]  # the first of equals: the lowest seq
        high = max(valued, key=lambda pair: pair[0])[1]
        chosen += [low] if low is high else [low, high]
    return sorted(chosen, key=lambda r: r.seq)


def merge(older: list[Summary], newer: list[Summary]) -> list[Summary]:
    """Summaries of two disjoint sets of records combined, per id and bucket."""
    merged = {(s.id, s.bucket): s for s in older}
    for new in newer:
        old = merged.get((new.id, new.bucket))
        merged[(new.id, new.bucket)] = new if old is None else _combine(old, new)
    return [merged[key] for key in sorted(merged)]


def _combine(a: Summary, b: Summary) -> Summary:
    first = a if a.first_seq < b.first_seq else b
    last = a if a.last_seq > b.last_seq else b
    return Summary(
        a.id,
        a.bucket,
        a.count + b.count,
        _pick(min, a.low, b.low),
        _pick(max, a.high, b.high),
        None if a.total is None or b.total is None else a.total + b.total,
        first.first_seq,
        first.first,
        last.last_seq,
        last.last,
    )


def _pick(choose: Any, a: Number | None, b: Number | None) -> Number | None:
    if a is None or b is None:
        return a if b is None else b
    result: Number = choose(a, b)
    return result
