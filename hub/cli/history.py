"""`history`: `/historical-data` as a table or CSV; with `--all-pages`, every page its `next` cursors lead to.

Times (`--start`, `--end`) are ISO 8601 as the hub takes them, or `now` and `now-90s`, `now-15m`, `now-2h`,
`now-1d`, computed here. `--range 1h|1d|7d|30d` (the ranges of the Angular example's history plot) is the
last hour, day, 7 or 30 days up to `--end` (default now); with `--size N`, which means `--strategy minmax`
unless another strategy is given, about N points per id that keep every spike. CSV has one header line and
one line per message (or aggregate row); values are written as JSON would write them (true, 12.5), text as it
is.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from datetime import UTC, datetime, timedelta

from hub.cli import output
from hub.cli.connection import CliError, HubHttp

FIELDS = {
    "data": ("id", "value"),
    "confirmation": ("command", "command_id", "request_id", "status", "message", "parameters"),
    "notification": ("level", "code", "id", "message", "details"),
}
TYPES = tuple(FIELDS)
RELATIVE = re.compile(r"now(?:-(\d+)(s|m|h|d))?")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
RANGES = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""The choices of `--range`: those of the Angular example's history plot."""


def moment(text: str, now: datetime | None = None) -> str:
    """`now` or `now-<n><s|m|h|d>` as an ISO 8601 UTC time; anything else unchanged, for the hub to check."""
    at = relative(text, now)
    return text if at is None else iso(at)


def relative(text: str, now: datetime | None = None) -> datetime | None:
    """The time `now` or `now-<n><s|m|h|d>` means; None for any other text."""
    match = RELATIVE.fullmatch(text.strip())
    if match is None:
        return None
    at = now or datetime.now(UTC)
    if match.group(1):
        at -= timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    return at


def iso(at: datetime) -> str:
    """`at` as the hub writes times: ISO 8601, UTC, microseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def span(length: str, end: str | None, now: datetime | None = None) -> tuple[str, str]:
    """Start and end of the `--range` `length` up to `end` (now, now-2h or ISO 8601; default now)."""
    text = end or "now"
    at = relative(text, now) or absolute(text)
    return iso(at - RANGES[length]), iso(at)


def absolute(text: str) -> datetime:
    """An ISO 8601 time, UTC when it names no zone (as the hub reads it)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--end {text!r}: with --range, give now, now-2h or an ISO 8601 time", 2) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def query(args: argparse.Namespace) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name in ("ids", "type", "limit", "after_seq", "order", "interval", "buckets"):
        value = getattr(args, name)
        if value is not None:
            params.append((name, str(value)))
    if (chosen := strategy(args)) is not None:
        params.append(("strategy", chosen))
    if args.size is not None:
        params.append(("size", str(args.size)))
    if args.range is not None:
        start, end = span(args.range, args.end)
        params += [("start", start), ("end", end)]
    else:
        for name in ("start", "end"):
            value = getattr(args, name)
            if value is not None:
                params.append((name, moment(value)))
    params += [("agg", agg) for agg in args.agg or []]
    return params


def strategy(args: argparse.Namespace) -> str | None:
    """`--strategy`, or minmax when only `--size` is given."""
    return args.strategy or ("minmax" if args.size is not None else None)


def columns(args: argparse.Namespace) -> list[str]:
    """seq, timestamp, type, then the fields of the message types asked for (all three by default; data
    alone for a strategy, which answers data only)."""
    kinds = "data" if strategy(args) else args.type or ",".join(TYPES)
    wanted = [t.strip() for t in kinds.split(",") if t.strip() in FIELDS]
    names = ["seq", "timestamp", "type"]
    for kind in wanted or TYPES:
        names += [f for f in FIELDS[kind] if f not in names]
    return names


async def run(args: argparse.Namespace) -> int:
    if args.all_pages and args.limit is None:
        args.limit = 10_000  # the largest page: fewer round trips
    params = query(args)
    writer = csv.writer(sys.stdout, lineterminator="\n") if args.csv else None
    names: list[str] | None = None
    rows: list[list[str]] = []
    pages = 0
    async with HubHttp(args.url, args.token) as http:
        cursor: str | None = args.cursor
        while True:
            page = await http.get("/historical-data", params + ([("cursor", cursor)] if cursor else []))
            pages += 1
            if not isinstance(page, dict):
                raise CliError("/historical-data answered something other than a page")
            if "rows" in page:  # aggregates: one page, whatever the options
                names = ["id", "start", *[str(a) for a in page.get("aggregates", [])]]
                items = page["rows"]
            else:
                names = names or columns(args)
                items = page.get("items", [])
            chunk = [[output.cell(item.get(name)) for name in names] for item in items]
            if writer is not None:
                if pages == 1:
                    writer.writerow(names)
                writer.writerows(chunk)
                sys.stdout.flush()
            else:
                rows += chunk
            cursor = page.get("next")
            if not cursor or not args.all_pages:
                break
    if writer is None and names is not None:
        show(names, rows)
    if cursor:
        print(f"history: more messages follow: add --all-pages (or --cursor {cursor})", file=sys.stderr)
    return 0


def show(names: list[str], rows: list[list[str]]) -> None:
    """A table of the columns that have a value in some row."""
    used = [i for i, name in enumerate(names) if name in ("seq", "id") or any(row[i] for row in rows)]
    grid = output.table(*(names[i] for i in used))
    for row in rows:
        grid.add_row(*(row[i] for i in used))
    screen = output.console()
    screen.print(grid)
    print(f"{len(rows)} {'rows' if names[:2] == ['id', 'start'] else 'messages'}", file=sys.stderr)
