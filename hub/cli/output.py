"""How values, times and tables look in the terminal and in CSV."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

PIPE_WIDTH = 500
"""Columns a table may use when the output is not a terminal (a file, a pipe): wide enough never to wrap."""

STATE_STYLES = {"nominal": "green", "warning": "yellow", "critical": "bold red"}


def console(stream: Any = None) -> Console:
    """A console on stdout (or `stream`): colours on a terminal; plain and unwrapped otherwise."""
    out = stream or sys.stdout
    literal: dict[str, Any] = {
        "highlight": False,
        "markup": False,
        "emoji": False,
    }  # values print as they are
    terminal = Console(file=out, **literal)
    if terminal.is_terminal:
        return terminal
    return Console(file=out, width=PIPE_WIDTH, no_color=True, color_system=None, **literal)


def table(*columns: str, caption: str | None = None) -> Table:
    grid = Table(box=box.SIMPLE, show_edge=False, caption=caption, caption_justify="left")
    for name in columns:
        grid.add_column(name, no_wrap=True, justify="right" if name in ("seq", "age", "value") else "left")
    return grid


def cell(value: Any) -> str:
    """A value as text: strings as they are, everything else as JSON (true, 12.5, {"a": 1}); None empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(timestamp: Any, now: datetime | None = None) -> str:
    """How long ago `timestamp` (ISO 8601) was: 0.4s, 12s, 3m05s, 2h03m, 4d02h; negative ages (a source
    clock ahead of this one) as -0.2s."""
    moment = parse_timestamp(timestamp)
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds < 10:
        return f"{sign}{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{sign}{whole}s"
    if whole < 3600:
        return f"{sign}{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{sign}{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{sign}{whole // 86400}d{whole % 86400 // 3600:02d}h"


def state_style(state: str) -> str:
    return STATE_STYLES.get(state.split("_", 1)[0], "")
