"""`tail`: the live values of chosen telemetry ids, as a table that refreshes in place.

On a terminal the table refreshes four times a second (ages keep moving between values). With `--once` or
`--count N` it prints one plain table and exits; on a pipe without either it prints one tab-separated line
per value (seq, timestamp, id, value, unit, limit state), as they come. After a lost connection it
reconnects by itself with `since` set to the last `seq` received, so nothing is missed (docs/contract.md,
"Resuming").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hub.alarms import classify
from hub.cli import output
from hub.cli.connection import CliError, HubHttp, Message, Stream, refusal
from hub.templates import Limits

REFRESH_S = 0.25


class Board:
    """The latest value of each subscribed id, and a line about the connection, as the table shows them."""

    def __init__(self, types: list[dict[str, Any]], lines: bool = False) -> None:
        self.units = {t["id"]: t.get("unit") or "" for t in types if isinstance(t.get("id"), str)}
        self.limits: dict[str, Limits] = {}
        for entry in types:
            try:
                if entry.get("limits"):
                    self.limits[entry["id"]] = Limits.model_validate(entry["limits"])
            except ValidationError:
                pass  # a hub newer than this tool: show the value without its state
        self.ids: list[str] = []
        self.latest: dict[str, Message] = {}
        self.received = 0
        self.changed = asyncio.Event()
        self.status = ""
        self.notice = ""
        self.lines = lines

    def receive(self, message: Message) -> None:
        if message.get("type") == "notification":
            self.notice = f"{message.get('level')}: {message.get('message')}"
            return
        telemetry_id, seq = message.get("id"), message.get("seq")
        if message.get("type") != "data" or not isinstance(telemetry_id, str) or not isinstance(seq, int):
            return
        known = self.latest.get(telemetry_id)
        if known is not None and known["seq"] == seq:
            return  # the latest value, sent again on subscribing again without a resume
        self.latest[telemetry_id] = message
        self.received += 1
        self.changed.set()
        if self.lines:
            value = message.get("value")
            fields = [seq, message.get("timestamp"), telemetry_id, value, self.units.get(telemetry_id)]
            fields.append(self.state(telemetry_id, value))
            print("\t".join(output.cell(f) for f in fields), flush=True)

    def state(self, telemetry_id: str, value: Any) -> str:
        limits = self.limits.get(telemetry_id)
        if limits is None or isinstance(value, bool) or not isinstance(value, int | float):
            return ""
        return classify(limits, value)

    async def wait_for(self, count: int) -> None:
        while self.received < count:
            self.changed.clear()
            await self.changed.wait()

    def render(self, caption: bool = True) -> Table:
        now = datetime.now(UTC)
        text = None
        if caption:
            text = " · ".join(part for part in (self.status, self.notice) if part)
        grid = output.table("id", "value", "unit", "state", "timestamp", "age", "seq", caption=text or None)
        for telemetry_id in self.ids:
            message = self.latest.get(telemetry_id)
            if message is None:
                grid.add_row(telemetry_id, "-", self.units.get(telemetry_id, ""), "", "", "", "")
                continue
            value = message.get("value")
            state = self.state(telemetry_id, value)
            grid.add_row(
                telemetry_id,
                output.cell(value),
                self.units.get(telemetry_id, ""),
                Text(state, style=output.state_style(state)),
                output.cell(message.get("timestamp")),
                output.age(message.get("timestamp"), now),
                output.cell(message.get("seq")),
            )
        return grid


def selection(args: argparse.Namespace) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    if args.ids:
        chosen["ids"] = list(dict.fromkeys(args.ids))
    if args.group:
        chosen["groups"] = list(dict.fromkeys(args.group))
    if args.all:
        chosen["all"] = True
    if not chosen:
        raise CliError("name telemetry ids, or use --group GROUP or --all", 2)
    return chosen


async def run(args: argparse.Namespace) -> int:
    chosen = selection(args)
    if args.count is not None and args.count < 1:
        raise CliError("--count must be at least 1", 2)
    async with HubHttp(args.url, args.token) as http:
        types = await http.get("/telemetry-types")
    screen = output.console()
    plain = args.once or args.count is not None
    lines = not plain and not screen.is_terminal
    board = Board([t for t in types if isinstance(t, dict)], lines)
    stream = Stream(args.url, args.token, board.receive)
    await stream.connect()
    try:
        await stream.connections.get()
        ack = await stream.call("subscribe", chosen)
        if not ack.get("ok"):
            raise CliError(refusal(ack))
        subscribed = [i for i in ack.get("subscribed", []) if isinstance(i, str)]
        board.ids = [i for i in chosen.get("ids", []) if i in subscribed]
        board.ids += [i for i in subscribed if i not in board.ids]
        board.status = f"{stream.url} · {len(board.ids)} id{'s' if len(board.ids) != 1 else ''}"
        resubscribing = asyncio.create_task(resubscribe(stream, chosen, board))
        try:
            if plain:
                if args.count is not None:
                    await board.wait_for(args.count)
                screen.print(board.render(caption=False))
            elif lines:
                await resubscribing
            else:
                await show(board, stream, screen)
        finally:
            resubscribing.cancel()
    finally:
        await stream.close()
    return 0


async def resubscribe(stream: Stream, chosen: dict[str, Any], board: Board) -> None:
    """Subscribe again after each reconnection: the hub then replays what was missed since `last_seq`."""
    while True:
        await stream.connections.get()
        try:
            ack = await stream.call("subscribe", chosen)
        except CliError as error:
            board.notice = str(error)
            continue
        if not ack.get("ok"):
            board.notice = f"subscribing again failed: {refusal(ack)}"
        elif ack.get("recovered") is False:
            board.notice = f"reconnected with a gap ({ack.get('reason')}): see history"
            stream.last_seq = None  # a hub whose log restarted numbers lower: resume from what comes next
        else:
            board.notice = f"reconnected, {ack.get('replayed', 0)} missed messages replayed"
        if board.lines:
            print(f"tail: {board.notice}", file=sys.stderr, flush=True)


async def show(board: Board, stream: Stream, screen: Console) -> None:
    """The refreshing table, until interrupted."""
    base = board.status
    with Live(board.render(), console=screen, auto_refresh=False) as live:
        while True:
            if stream.connected:
                board.status = f"{base} · last seq {stream.last_seq}"
            else:
                board.status = f"{base} · reconnecting ({stream.problem or 'connection lost'})"
            live.update(board.render(), refresh=True)
            await asyncio.sleep(REFRESH_S)
