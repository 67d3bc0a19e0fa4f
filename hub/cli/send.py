"""`send`: one command, its ack, then each confirmation of it until the final status.

Exit status: 0 when the command completed; 1 when the hub refused it (the ack's error code and message are
printed), when it failed or timed out, or when no final status came within `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import uuid
from typing import Any

from hub.cli import output
from hub.cli.connection import CliError, HubHttp, Message, Stream, refusal
from hub.messages import TERMINAL_STATUSES

MARGIN_S = 5.0
"""Added to the template's timeout_s for the default --timeout: the hub reports `timeout` itself by then."""
DEFAULT_TIMEOUT_S = 30.0
TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})


def typed(text: str, kind: str | None) -> Any:
    """`text` as the template's type says (int, float, bool; strings and enums stay text). Text that does not
    convert is sent as it is, so that the hub's `invalid_parameters` says what is wrong with it."""
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            number = float(text)
            return number if math.isfinite(number) else text
    except ValueError:
        return text
    if kind == "bool" and text.lower() in TRUE | FALSE:
        return text.lower() in TRUE
    return text


def parameters(args: argparse.Namespace, template: dict[str, Any] | None) -> dict[str, Any]:
    if args.json is not None:
        if args.parameters:
            raise CliError("give parameters as key=value or with --json, not both", 2)
        try:
            given = json.loads(args.json)
        except ValueError as error:
            raise CliError(f"--json is not valid JSON: {error}", 2) from None
        if not isinstance(given, dict):
            raise CliError("--json must be a JSON object of parameters", 2)
        return given
    kinds = {p.get("name"): p.get("type") for p in (template or {}).get("parameters", [])}
    chosen: dict[str, Any] = {}
    for item in args.parameters:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise CliError(f"{item!r} is not key=value", 2)
        chosen[name] = typed(text, kinds.get(name))
    return chosen


async def run(args: argparse.Namespace) -> int:
    async with HubHttp(args.url, args.token) as http:
        templates = await http.get("/command-templates")
    template = next((t for t in templates if isinstance(t, dict) and t.get("command") == args.command), None)
    chosen = parameters(args, template)
    timeout = args.timeout
    if timeout is None:
        timeout = float(template.get("timeout_s", 10)) + MARGIN_S if template else DEFAULT_TIMEOUT_S
    request_id = f"cli-{uuid.uuid4().hex[:16]}"
    mine: asyncio.Queue[Message] = asyncio.Queue()
    command_id: list[str] = []

    def receive(message: Message) -> None:
        if message.get("type") == "confirmation" and (
            message.get("request_id") == request_id or message.get("command_id") in command_id
        ):
            mine.put_nowait(message)

    stream = Stream(args.url, args.token, receive)
    await stream.connect()
    try:
        await stream.connections.get()
        resuming = asyncio.create_task(resume(stream))
        try:
            request = {"command": args.command, "parameters": chosen, "request_id": request_id}
            ack = await stream.call("command", request)
            if not ack.get("ok"):
                print(f"refused: {refusal(ack)}", flush=True)
                return 1
            command_id.append(str(ack.get("command_id")))
            if stream.last_seq is None and isinstance(ack.get("seq"), int):
                stream.last_seq = ack["seq"] - 1  # a reconnection before `accepted` arrived replays it
            print(f"ack: ok, command {ack.get('command_id')} {ack.get('status')} (seq {ack.get('seq')})")
            return await confirmations(mine, timeout)
        finally:
            resuming.cancel()
    finally:
        await stream.close()


async def confirmations(mine: asyncio.Queue[Message], within: float) -> int:
    """Print the command's confirmations in `seq` order until the final one; the exit status."""
    seen: set[int] = set()
    try:
        async with asyncio.timeout(within):
            while True:
                message = await mine.get()
                seq = message.get("seq")
                if not isinstance(seq, int) or seq in seen:
                    continue  # replayed after a reconnection
                seen.add(seq)
                status = str(message.get("status"))
                parts = [output.cell(message.get("timestamp")), f"{status:<9}", f"seq {seq}"]
                if message.get("parameters"):
                    parts.append(output.cell(message["parameters"]))
                if message.get("message"):
                    parts.append(str(message["message"]))
                print("  ".join(parts), flush=True)
                if status in TERMINAL_STATUSES:
                    return 0 if status == "completed" else 1
    except TimeoutError:
        print(
            f"no final status within {within:g} s (--timeout); see /historical-data?type=confirmation",
            file=sys.stderr,
        )
        return 1


async def resume(stream: Stream) -> None:
    """After a reconnection, an empty subscribe makes the hub replay the confirmations missed meanwhile."""
    while True:
        await stream.connections.get()
        try:
            ack = await stream.call("subscribe", {"ids": []})
        except CliError as error:
            print(f"send: {error}", file=sys.stderr)
            continue
        if ack.get("recovered") is False:
            print(f"send: reconnected with a gap ({ack.get('reason')})", file=sys.stderr)
