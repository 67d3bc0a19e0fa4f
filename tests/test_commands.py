"""Commands over Socket.IO: validation, acks, confirmations from the source, and the hub's timeout."""

from __future__ import annotations

import httpx
import pytest

from hub.app import create_app
from hub.history import Query
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import FakeSource, UnwritableHistory
from tests.support import Client, is_, serve


async def test_command_goes_through_executing_and_completed(running: RunningHub) -> None:
    """An accepted command is logged, acked, forwarded with defaults filled in, and confirmed to everyone."""
    sender, watcher = await running.client(), await running.client()
    ack = await sender.call(
        "command", {"command": "configure", "parameters": {"count": 3}, "request_id": "r-1"}
    )
    assert ack["ok"] is True and ack["status"] == "accepted" and ack["request_id"] == "r-1"
    forwarded = await running.source.next_command()
    assert forwarded.command_id == ack["command_id"]
    assert forwarded.parameters == {"gain": 1.0, "count": 3, "enabled": True, "channel": "a"}
    running.source.confirm(ack["command_id"], "executing", "working")
    running.source.confirm(ack["command_id"], "completed", "done")
    for client in (sender, watcher):
        steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=3)
        assert [s["status"] for s in steps] == ["accepted", "executing", "completed"]
        assert steps[0]["parameters"] == forwarded.parameters and steps[0]["seq"] == ack["seq"]
        assert all(s["request_id"] == "r-1" and s["command"] == "configure" for s in steps)
        assert "parameters" not in steps[1]
    assert running.hub.commands.get(ack["command_id"]) is None


async def test_command_is_in_the_log_before_its_ack(running: RunningHub) -> None:
    """The accepted confirmation is durable when the ack arrives."""
    client = await running.client()
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    written = await running.hub.history.backend.query(Query(types=("confirmation",)))
    assert [r.seq for r in written] == [ack["seq"]]


async def test_device_failure_is_reported(running: RunningHub) -> None:
    """A command the device fails at execution ends in `failed` with the device's reason."""
    running.source.auto["set_mode"] = ("failed", "science mode needs the solar array deployed")
    client = await running.client()
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "science"}})
    steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=3)
    assert [s["status"] for s in steps] == ["accepted", "executing", "failed"]
    assert steps[-1]["message"] == "science mode needs the solar array deployed"


async def test_source_refusing_outright_fails_the_command(running: RunningHub) -> None:
    """A source that raises in execute produces a `failed` confirmation, not a hang."""
    running.source.fail_with = RuntimeError("link down")
    client = await running.client()
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=2)
    assert steps[-1]["status"] == "failed" and "link down" in steps[-1]["message"]


async def test_hub_times_out_and_reports_a_late_result_as_notification(running: RunningHub) -> None:
    """No answer within timeout_s gives `timeout`; the device's later result is a late_confirmation notice."""
    client = await running.client()
    ack = await client.call("command", {"command": "slow", "request_id": "late"})
    command = await running.source.next_command()
    running.source.confirm(command.command_id, "executing", "started")
    steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=3)
    assert [s["status"] for s in steps] == ["accepted", "executing", "timeout"]
    running.source.confirm(command.command_id, "completed", "finally")
    [late] = await client.wait_for(is_("notification", code="late_confirmation"))
    assert late["level"] == "warning" and late["details"]["command_id"] == ack["command_id"]
    assert late["details"]["status"] == "completed" and late["details"]["request_id"] == "late"
    assert len(client.of("confirmation", command_id=ack["command_id"])) == 3


async def test_a_second_terminal_status_is_not_a_confirmation(running: RunningHub) -> None:
    """A device that reports twice gets one terminal confirmation and an unexpected_confirmation notice."""
    running.source.auto["set_mode"] = ("completed", "ok")
    client = await running.client()
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    await client.wait_for(is_("confirmation", command_id=ack["command_id"], status="completed"))
    running.source.confirm(ack["command_id"], "failed", "again")
    await client.wait_for(is_("notification", code="unexpected_confirmation"))
    assert [s["status"] for s in client.of("confirmation")] == ["accepted", "executing", "completed"]


@pytest.mark.parametrize(
    ("payload", "code", "details"),
    [
        ({"command": "launch"}, "unknown_command", None),
        ({"command": "set_mode"}, "invalid_parameters", {"mode": "required parameter is missing"}),
        ({"command": "set_mode", "parameters": {"mode": "warp"}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 11}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 2.5}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": True}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 1, "gain": "x"}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 1, "enabled": 1}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 1, "label": 5}}, "invalid_parameters", None),
        ({"command": "configure", "parameters": {"count": 1, "bogus": 1}}, "invalid_parameters", None),
        ({"command": "set_mode", "parameters": {"mode": "safe"}, "extra": 1}, "bad_request", None),
        ({"type": "query", "command": "set_mode"}, "bad_request", None),
        ({"command": "set_mode", "request_id": "x" * 129}, "bad_request", None),
        ({"command": "set_mode", "parameters": ["safe"]}, "bad_request", None),
        ({"command": 7}, "bad_request", None),
        ({}, "bad_request", None),
    ],
)
async def test_invalid_commands_are_refused_and_never_reach_the_source(
    running: RunningHub, payload: dict[str, object], code: str, details: object
) -> None:
    """Each kind of bad command gets ok: false with its code, and the source sees nothing."""
    client = await running.client()
    ack = await client.call("command", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    assert ack["error"]["message"]
    if details is not None:
        assert ack["error"]["details"] == details
    if code == "invalid_parameters":
        assert set(ack["error"]["details"]) <= {"mode", "count", "gain", "enabled", "label", "bogus"}
    assert running.source.commands == []


async def test_invalid_parameters_names_every_bad_parameter(running: RunningHub) -> None:
    """All problems are reported at once, each with its reason."""
    client = await running.client()
    ack = await client.call(
        "command", {"command": "configure", "parameters": {"count": 0, "gain": 9, "channel": "z", "x": 1}}
    )
    assert set(ack["error"]["details"]) == {"count", "gain", "channel", "x"}
    assert "below the minimum 1" in ack["error"]["details"]["count"]
    assert "above the maximum 2" in ack["error"]["details"]["gain"]


async def test_commands_are_refused_while_the_source_is_down(running: RunningHub) -> None:
    """With the source down a command gets source_unavailable and nothing is logged as accepted."""
    client = await running.client()
    running.source.started.clear()
    running.source.crash(ConnectionError("device unplugged"))
    await client.wait_for(is_("notification", code="source_disconnected"))
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    assert ack["ok"] is False and ack["error"]["code"] == "source_unavailable"
    assert client.of("confirmation") == []
    await running.source.started.wait()  # the supervisor restarts it
    await client.wait_for(is_("notification", code="source_connected"))
    ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    assert ack["ok"] is True


async def test_a_command_that_cannot_be_logged_is_not_sent(source: FakeSource, settings: Settings) -> None:
    """If the log cannot be written the ack is internal_error, the command fails, the source gets nothing."""
    async with serve(create_app(settings, source=source, history=UnwritableHistory())) as url:
        await source.started.wait()
        client = await Client().connect(url)
        ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
        assert ack["ok"] is False and ack["error"]["code"] == "internal_error"
        assert "history log" in ack["error"]["message"]
        steps = await client.wait_for(is_("confirmation"), count=2)
        assert [s["status"] for s in steps] == ["accepted", "failed"]
        assert source.commands == []
        async with httpx.AsyncClient(base_url=url) as http:
            health = (await http.get("/health")).json()
        assert health["status"] == "degraded" and "no space left" in health["reason"]
        await client.close()
