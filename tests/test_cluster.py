"""Several hub processes over the real Redis and PostgreSQL: one stream for clients of every process,
commands from any process, and a takeover when the leading process is killed.

Each test has a Redis channel and a PostgreSQL schema of its own; the processes are `main.py` as a user runs
them. Skipped, with the reason, where Redis or PostgreSQL does not answer.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.cluster.lease import LEASE_S
from tests.backends import POSTGRES_URL, postgres_problem
from tests.support import ROOT, Client, HubProcess, Message, is_, main_process

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The environment of one cluster: its Redis channel and a PostgreSQL schema of its own."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except (RedisError, OSError) as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    finally:
        await redis.aclose()
    if (problem := await postgres_problem()) is not None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES_URL)
    await connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield {
            "HUB_REDIS_URL": REDIS_URL,
            "HUB_REDIS_CHANNEL": name,
            "HUB_HISTORY_URL": f"{POSTGRES_URL}?search_path={name}",
        }
    finally:
        await connection.execute(f'DROP SCHEMA "{name}" CASCADE')
        await connection.close()
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(*[key async for key in redis.scan_iter(f"{name}:*")] or [f"{name}:templates"])
        await redis.aclose()


async def health(hub: HubProcess) -> dict[str, Any]:
    """The /health answer of one hub process."""
    async with httpx.AsyncClient(base_url=hub.url) as http:
        body: dict[str, Any] = (await http.get("/health")).json()
        return body


async def role(hub: HubProcess) -> str:
    """The cluster role of `hub` (leader or follower), as its /health says."""
    return str((await health(hub))["cluster"]["role"])


@asynccontextmanager
async def cluster(env: dict[str, str], size: int = 2) -> AsyncIterator[list[HubProcess]]:
    """`size` hub processes; the first is started alone, so it leads."""
    async with AsyncExitStack() as stack:
        hubs = [await stack.enter_async_context(main_process([], env))]
        await _until_role(hubs[0], "leader")
        for _ in range(size - 1):
            hubs.append(await stack.enter_async_context(main_process([], env)))
        for hub in hubs[1:]:
            await _until_role(hub, "follower")
        yield hubs


async def _until_role(hub: HubProcess, wanted: str, within: float = 10) -> None:
    async with asyncio.timeout(within):
        while await role(hub) != wanted:  # noqa: ASYNC110 (the role has no event; /health tells it)
            await asyncio.sleep(0.1)


def seqs(messages: list[Message]) -> list[int]:
    """The seqs of `messages`, in order."""
    return [int(m["seq"]) for m in messages]


def increasing(messages: list[Message]) -> bool:
    """Whether the seqs of `messages` strictly increase: no repeat, none out of order."""
    numbers = seqs(messages)
    return all(a < b for a, b in itertools.pairwise(numbers))


async def logged(hub: HubProcess, after_seq: int, **params: Any) -> list[Message]:
    """Everything `hub` serves from the log after `after_seq` (all pages)."""
    items: list[Message] = []
    query: dict[str, Any] = {"after_seq": after_seq, "limit": 10_000, **params}
    async with httpx.AsyncClient(base_url=hub.url) as http:
        while True:
            body = (await http.get("/historical-data", params=query)).json()
            items += body["items"]
            if body["next"] is None:
                return items
            query = {"cursor": body["next"], "limit": 10_000}


async def test_clients_of_every_process_get_one_stream(shared: dict[str, str]) -> None:
    """Clients of three processes get the same messages and seqs; a follower's log has all it delivered."""
    async with cluster(shared, size=3) as hubs:
        clients = [Client() for _ in hubs]
        for client, hub in zip(clients, hubs, strict=True):
            await client.connect(hub.url)
            ack = await client.call("subscribe", {"ids": ["battery_voltage", "battery_temp"]})
            assert ack["subscribed"] == ["battery_temp", "battery_voltage"]
        for client in clients:
            await client.wait_for(is_("data"), count=30, within=15)
        streams = [client.of("data") for client in clients]
        assert all(increasing(stream) for stream in streams)
        low = max(stream[0]["seq"] for stream in streams)
        high = min(stream[-1]["seq"] for stream in streams)
        windows = [[m for m in stream if low <= m["seq"] <= high] for stream in streams]
        assert len(windows[0]) >= 10
        assert windows[1] == windows[0] and windows[2] == windows[0]  # the same messages, seqs and all
        # a follower's log answers for all it delivered, written by the leader or not yet
        served = await logged(hubs[2], low - 1, ids="battery_voltage,battery_temp")
        for telemetry_id in ("battery_voltage", "battery_temp"):  # from its first value on (the first
            # values are the latest ones, sent on subscribe: not contiguous across ids)
            mine = [m for m in windows[2] if m["id"] == telemetry_id]
            stored = [m for m in served if m["id"] == telemetry_id and mine[0]["seq"] <= m["seq"] <= high]
            assert stored == mine
        assert {(await health(hub))["cluster"]["leader"] for hub in hubs} == {
            (await health(hubs[0]))["cluster"]["process"]
        }
        for client in clients:
            await client.close()


async def test_a_command_from_a_follower_runs_on_the_leader(shared: dict[str, str]) -> None:
    """A command sent to a follower is validated and run by the leader, and both see its confirmations."""
    async with cluster(shared) as (leader, follower):
        sender, watcher = Client(), Client()
        await sender.connect(follower.url)
        await watcher.connect(leader.url)
        ack = await sender.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
        assert ack["ok"] is True and ack["status"] == "accepted"
        for client in (sender, watcher):
            steps = await client.wait_for(
                is_("confirmation", command_id=ack["command_id"]), count=3, within=10
            )
            assert [s["status"] for s in steps] == ["accepted", "executing", "completed"]
            assert steps[0]["seq"] == ack["seq"]
        refused = await sender.call("command", {"command": "set_mode", "parameters": {"mode": "warp"}})
        assert refused["ok"] is False and refused["error"]["code"] == "invalid_parameters"
        assert len((await health(leader))["cluster"]["process"]) == 32
        await sender.close()
        await watcher.close()


async def test_a_killed_leader_is_replaced_and_no_message_is_lost_or_repeated(shared: dict[str, str]) -> None:
    """A follower replaces a killed leader, the log equals the stream, and a client resumes without a gap."""
    async with cluster(shared) as (leader, follower):
        watcher, on_leader = Client(), Client()
        await watcher.connect(follower.url)
        await watcher.call("subscribe", {"all": True})
        start = int((await health(follower))["history"]["last_seq"])  # live from here on
        await on_leader.connect(leader.url)
        await on_leader.call("subscribe", {"all": True})
        await on_leader.wait_for(is_("data"), count=100, within=10)
        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        last_seen = on_leader.received[-1]["seq"]
        took_over = await watcher.wait_for(is_("notification", code="leader_changed"), within=LEASE_S + 10)
        assert took_over[0]["level"] == "warning" and took_over[0]["details"]["previous"] is not None
        after = took_over[0]["seq"]
        await watcher.wait_for(lambda m: m["type"] == "data" and m["seq"] > after, count=50, within=10)
        live = [m for m in watcher.received if m["seq"] > start]
        assert increasing(live)
        # the log holds exactly what was streamed: the old leader's unwritten last batch was written by
        # the new leader from what it had received, and numbering went on past the old reservation
        stored = [m for m in await logged(follower, start) if m["seq"] <= live[-1]["seq"]]
        assert stored == live
        assert (await health(follower))["cluster"]["role"] == "leader"
        # a client of the dead leader resumes on the survivor without a gap
        resumed = Client()
        await resumed.connect(follower.url, auth={"since": last_seen})
        ack = await resumed.call("subscribe", {"all": True})
        assert ack["recovered"] is True and ack["replayed"] > 0
        missed = [m for m in live if m["seq"] > last_seen]
        assert resumed.received[: len(missed)] == missed
        for client in (watcher, on_leader, resumed):
            await client.close()


async def test_commands_of_a_dead_leader_still_end_exactly_once(
    shared: dict[str, str], tmp_path: Path
) -> None:
    """The new leader keeps tracking what the old one accepted: here a self-test longer than its
    timeout, whose device (the old leader's simulator) is gone, ends in one `timeout`."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    commands_file = templates / "command_templates.yaml"
    commands = yaml.safe_load(commands_file.read_text())
    for command in commands["command_templates"]:
        if command["command"] == "run_self_test":
            command["timeout_s"] = 3
    commands_file.write_text(yaml.safe_dump(commands))
    async with cluster(shared | {"HUB_TEMPLATES_DIR": str(templates)}) as (leader, follower):
        watcher = Client()
        await watcher.connect(follower.url)
        ack = await watcher.call("command", {"command": "run_self_test", "parameters": {"duration_s": 60}})
        mine = is_("confirmation", command_id=ack["command_id"])
        await watcher.wait_for(mine, count=2, within=5)  # accepted, executing
        leader.process.send_signal(signal.SIGKILL)
        await watcher.wait_for(is_("notification", code="leader_changed"), within=LEASE_S + 10)
        steps = await watcher.wait_for(mine, count=3, within=10)
        assert [s["status"] for s in steps] == ["accepted", "executing", "timeout"]
        await watcher.call("subscribe", {"ids": ["battery_voltage"]})
        later = steps[-1]["seq"]
        await watcher.wait_for(lambda m: m["type"] == "data" and m["seq"] > later, within=5)
        assert len(watcher.of("confirmation", command_id=ack["command_id"])) == 3
        await watcher.close()


async def test_a_stopped_leader_hands_over_at_once_and_leaves_no_gap(shared: dict[str, str]) -> None:
    """A leader stopped by SIGTERM gives up its lease: a follower leads at once, a resume misses nothing."""
    async with cluster(shared) as (leader, follower):
        on_leader = Client()
        await on_leader.connect(leader.url)
        await on_leader.call("subscribe", {"all": True})
        await on_leader.wait_for(is_("data"), count=20, within=10)
        old = (await health(leader))["cluster"]["process"]
        leader.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(leader.process.wait(), 10) == 0
        redis = Redis.from_url(REDIS_URL)
        holder = await redis.get(f"{shared['HUB_REDIS_CHANNEL']}:leader")
        await redis.aclose()
        assert holder != old.encode()  # given back on the way out, not left to expire
        last_seen = on_leader.received[-1]["seq"]
        resumed = Client()
        await resumed.connect(follower.url, auth={"since": last_seen})
        await _until_role(follower, "leader", within=LEASE_S - 1)  # released, not expired
        ack = await resumed.call("subscribe", {"all": True})
        assert ack["recovered"] is True
        await resumed.wait_for(is_("notification", code="leader_changed"), within=5)
        assert increasing(resumed.received)
        await resumed.close()
