"""Calls between hub processes over the in-memory bus: a follower's command run by the leader, its refusal,
a leader that does not answer, and a follower's notification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial

import pytest

from hub.cluster.memory_bus import MemoryNetwork
from hub.errors import HubError
from hub.messages import CommandRequest
from tests.cluster_fakes import FakeClock, HubProcess, leader_and_follower
from tests.support import eventually

ANSWER_WITHIN_S = 0.3
"""How long the followers of these tests wait for the leader's answer."""


@pytest.fixture
def clock() -> FakeClock:
    """The leases' time: it stands still here, so the leader keeps the lease."""
    return FakeClock()


@pytest.fixture
def network(clock: FakeClock) -> MemoryNetwork:
    """The bus the processes share."""
    return MemoryNetwork(clock)


@pytest.fixture
async def pair(network: MemoryNetwork, clock: FakeClock) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Two hub processes: `a` leads, `b` follows and waits ANSWER_WITHIN_S for the leader's answers."""
    async with leader_and_follower(network, clock, ANSWER_WITHIN_S) as processes:
        yield processes


async def test_a_followers_command_runs_on_the_leader_and_its_ack_comes_back(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """The follower's ack is the leader's: same command id and seq, and the command reached the leader's
    source, not the follower's."""
    a, b = pair
    a.source.auto["set_mode"] = ("completed", "done")
    ack = await b.hub.send_command(
        CommandRequest(command="set_mode", parameters={"mode": "safe"}, request_id="r1")
    )
    assert ack.request_id == "r1" and [c.command_id for c in a.source.commands] == [ack.command_id]
    assert b.source.commands == []
    await eventually(lambda: len([r for r in b.delivered if r.type == "confirmation"]) == 3)
    steps = [json.loads(r.payload) for r in b.delivered if r.type == "confirmation"]
    assert [s["status"] for s in steps] == ["accepted", "executing", "completed"]
    assert steps[0]["seq"] == ack.seq and {s["command_id"] for s in steps} == {ack.command_id}


async def test_a_command_the_leader_refuses_is_refused_with_the_leaders_code(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """An error of the leader (its source down) reaches the follower's caller with the same code."""
    a, b = pair
    a.source.crash(ConnectionError("cable cut"))
    await eventually(lambda: a.hub.supervisor.state == "down")
    with pytest.raises(HubError) as refused:
        await b.hub.send_command(CommandRequest(command="set_mode", parameters={"mode": "safe"}))
    assert refused.value.code == "source_unavailable" and "down" in refused.value.message


async def test_a_command_is_refused_in_the_follower_when_it_is_invalid(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """A follower validates first: an unknown command is refused there and never reaches the leader."""
    a, b = pair
    with pytest.raises(HubError) as refused:
        await b.hub.send_command(CommandRequest(command="no_such_command"))
    assert refused.value.code == "unknown_command" and a.source.commands == []


async def test_a_leader_that_does_not_answer_makes_the_command_unavailable(
    pair: tuple[HubProcess, HubProcess], network: MemoryNetwork
) -> None:
    """With no answer within the wait (the leader cut off), the follower refuses the command as
    source_unavailable, saying a takeover may be under way."""
    _, b = pair
    network.isolate("a")
    with pytest.raises(HubError) as refused:
        await b.hub.send_command(CommandRequest(command="set_mode", parameters={"mode": "safe"}))
    assert refused.value.code == "source_unavailable" and "takeover" in refused.value.message


async def test_a_followers_notification_is_published_by_the_leader(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """A slow client shed by a follower is announced by the leader, with a seq, to every process's clients."""
    a, b = pair
    b.hub.sessions.report_shed("client-1", 250)
    for process in (a, b):
        await eventually(partial(shed_notice_in, process))
    [notice] = [json.loads(r.payload) for r in b.delivered if "client_too_slow" in r.payload]
    assert notice["details"] == {"client": "client-1", "backlog": 250} and notice["seq"] > 0
    assert b.hub.health().slow_clients_disconnected == 1


def shed_notice_in(process: HubProcess) -> bool:
    """Whether `process` delivered a `client_too_slow` notification."""
    return any(r.type == "notification" and "client_too_slow" in r.payload for r in process.delivered)
