"""Paging of history queries: opaque cursors, and the body of a page.

A cursor holds the last `seq` of a page and a fingerprint of the filters it was made for, so that paging on
with other filters is refused instead of silently skipping or repeating messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence

from hub.history.base import Record


def fingerprint(*filters: object) -> str:
    return hashlib.blake2s(json.dumps(filters, default=str).encode(), digest_size=6).hexdigest()


def encode(seq: int, filters: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([seq, filters]).encode()).decode().rstrip("=")


def decode(cursor: str, filters: str) -> int:
    """The `seq` the cursor continues from; ValueError if it is malformed or was made for other filters."""
    try:
        seq, made_for = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, RecursionError) as error:
        raise ValueError("not a cursor this hub issued") from error
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or not 0 <= seq < 2**63
        or not isinstance(made_for, str)
    ):
        raise ValueError("not a cursor this hub issued")
    if made_for != filters:
        raise ValueError("the cursor was issued for other filters; repeat the same ones to page on")
    return seq


def page(records: Sequence[Record], next_cursor: str | None = None) -> bytes:
    """The JSON body of a page: the messages exactly as they were streamed, and the cursor to the next."""
    items = ",".join(record.payload for record in records)
    return f'{{"items":[{items}],"next":{json.dumps(next_cursor)}}}'.encode()
