"""Calls between the hub processes over the bus: a follower's client's command, run by the leader and
answered with its ack or its error; and a follower's notification, published by the leader.

A call is a `command` message naming the caller and a call number; the leader answers with a `reply` to that
caller and number. A follower that hears nothing within COMMAND_ANSWER_S refuses the command as
source_unavailable: a takeover may be under way, and if the leader did accept it, its confirmations say so.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from typing import Any, cast

from hub import tasks
from hub.cluster.bus import Bus
from hub.cluster.member import Member
from hub.errors import HubError, SourceUnavailable
from hub.messages import CommandAck, CommandRequest, ErrorBody, HubNotificationCode, Level

log = logging.getLogger(__name__)

COMMAND_ANSWER_S = 5.0
"""How long a follower waits for the leader to accept or refuse a command it forwarded."""


class Rpc:
    """Both ends of the calls: a follower's `command` and `notification`, and the leader's `answer`."""

    def __init__(self, bus: Bus, member: Member, answer_within_s: float = COMMAND_ANSWER_S) -> None:
        self.bus = bus
        self.member = member
        self.answer_within_s = answer_within_s
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._call_ids = itertools.count(1)
        self._work: set[asyncio.Task[None]] = set()

    # --- as a follower ----------------------------------------------------------------------------------

    async def command(self, request: CommandRequest) -> CommandAck:
        """Have the leading process run `request` (validated here already); its ack, or its error raised."""
        call = next(self._call_ids)
        answer = self._calls[call] = asyncio.get_running_loop().create_future()
        message = {"kind": "command", "from": self.bus.process, "call": call, "request": request.model_dump()}
        try:
            await self.bus.publish(message)
            async with asyncio.timeout(self.answer_within_s):
                reply = await answer
        except TimeoutError:
            raise SourceUnavailable(
                f"the hub process that runs the source did not answer within {self.answer_within_s:g} s (a "
                "takeover may be under way); if it accepted the command, its confirmations will say so"
            ) from None
        finally:
            self._calls.pop(call, None)
        if "ack" in reply:
            return CommandAck.model_validate(reply["ack"])
        raise _error(reply["error"])

    def notification(
        self, level: Level, code: HubNotificationCode, message: str, details: dict[str, Any]
    ) -> None:
        """Have the leading process publish a notification (not waiting for it)."""
        body = {"kind": "notification", "level": level, "code": code, "message": message, "details": details}
        self._start(self.bus.publish(body), "forward a notification")

    def replied(self, message: dict[str, Any]) -> None:
        """A `reply`: the answer to one of this process's calls, if it is still waiting."""
        if message.get("to") != self.bus.process:
            return
        answer = self._calls.get(message["call"])
        if answer is not None and not answer.done():
            answer.set_result(message)

    # --- as the leader ----------------------------------------------------------------------------------

    def answer(self, message: dict[str, Any]) -> None:
        """A follower's `command` or `notification`: run or publish it (a command's answer goes back)."""
        if message["kind"] == "notification":
            code = cast(HubNotificationCode, message["code"])
            self.member.notify(message["level"], code, message["message"], message["details"])
        else:
            self._start(self._run_command(message), "forwarded command")

    async def stop(self) -> None:
        """Stop the calls under way."""
        await tasks.stop(self._work)

    async def _run_command(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"kind": "reply", "to": message["from"], "call": message["call"]}
        try:
            ack = await self.member.send_command(CommandRequest.model_validate(message["request"]))
            reply["ack"] = ack.model_dump()
        except HubError as error:
            reply["error"] = _body(error)
        except Exception:
            log.exception("running a command forwarded by %s failed", message["from"])
            reply["error"] = _body(HubError("internal error; the hub logged it"))
        await self.bus.publish(reply)

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = tasks.start(work, name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)


def _body(error: HubError) -> dict[str, Any]:
    """A HubError as the wire contract's error body (the ack's `error`)."""
    return ErrorBody(code=error.code, message=error.message, details=error.details).model_dump()


def _error(body: dict[str, Any]) -> HubError:
    """The leader's error, raised again in the follower with the same code."""
    checked = ErrorBody.model_validate(body)
    error = HubError(checked.message, checked.details)
    error.code = checked.code
    return error
