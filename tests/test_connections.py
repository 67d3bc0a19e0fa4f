"""A connection's identity and its budget for inbound work, attacked through real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import socketio
import websockets

from hub.app import create_app
from hub.auth import hash_token
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, PollingSession, raw_client, serve, watched

VIEWER = "viewer-token-abcdefghijklmnop"
OPERATOR = "operator-token-abcdefghijklmn"
SET_MODE = '["command",{"command":"set_mode","parameters":{"mode":"safe"}}]'


@pytest.fixture
async def secured(source: FakeSource, tmp_path: Path) -> AsyncIterator[str]:
    """A hub with a viewer and an operator token, commands limited to 2 at once; yields its URL."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "tokens:\n"
        f"  - {{name: wall, role: viewer, sha256: {hash_token(VIEWER)}}}\n"
        f"  - {{name: console, role: operator, sha256: {hash_token(OPERATOR)}}}\n"
    )
    settings = Settings(
        templates_dir=TEST_TEMPLATES, history_url="memory://", tokens_file=tokens, command_burst=2
    )
    source.auto["set_mode"] = ("completed", "ok")
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        await source.started.wait()
        yield url


async def test_a_command_posted_with_a_disconnect_is_not_run_as_anonymous(
    secured: str, source: FakeSource
) -> None:
    """A viewer's long-polling POST of a command and a disconnect (41) together: the command is refused."""
    for attempt in range(3):
        session = await PollingSession(secured).open({"token": VIEWER})
        await session.post(f"42{attempt}{SET_MODE}", "41")
        acks = await session.acks(1)
        assert acks[attempt]["ok"] is False
        assert acks[attempt]["error"]["code"] == "forbidden"
        await session.close()
    operator = await Client().connect(secured, auth={"token": OPERATOR})
    assert (await operator.call("command", json.loads(SET_MODE)[1]))["ok"] is True
    assert [c.command for c in source.commands] == ["set_mode"]  # the operator's only
    await operator.close()


async def test_commands_posted_with_a_disconnect_do_not_escape_the_rate_limit(
    secured: str, source: FakeSource
) -> None:
    """An operator's POST of ten commands and a disconnect runs none of them (the connection closed first);
    ten commands in one POST without the disconnect run only the command burst (2)."""
    session = await PollingSession(secured).open({"token": OPERATOR})
    await session.post(*(f"42{i}{SET_MODE}" for i in range(10)), "41")
    acks = await session.acks(10)
    assert [a["ok"] for a in acks.values()] == [False] * 10
    assert len(source.commands) == 0
    await session.close()
    session = await PollingSession(secured).open({"token": OPERATOR})
    await session.post(*(f"42{i}{SET_MODE}" for i in range(10)))
    codes = sorted(a["error"]["code"] if not a["ok"] else "ok" for a in (await session.acks(10)).values())
    assert codes == ["ok"] * 2 + ["rate_limited"] * 8
    assert len(source.commands) == 2
    await session.close()


async def test_the_identity_of_a_connection_is_the_one_it_connected_with(secured: str) -> None:
    """A viewer's command, sent alone over long-polling, is refused as the viewer's, with forbidden."""
    session = await PollingSession(secured).open({"token": VIEWER})
    await session.post(f"421{SET_MODE}")
    ack = (await session.acks(1))[1]
    assert ack["error"]["code"] == "forbidden" and "wall is a viewer" in ack["error"]["message"]
    await session.close()


@pytest.mark.parametrize("settings", [{"event_burst": 20, "event_rate": 1.0}], indirect=True)
async def test_events_past_the_budget_are_answered_rate_limited(running: RunningHub) -> None:
    """Every kind of event counts against the connection's budget; past it, rate_limited and retry_after_s."""
    client = await running.client()
    names = ("subscribe", "unsubscribe", "nonsense")
    acks = await asyncio.gather(*(client.call(names[i % 3], {"ids": ["counter"]}) for i in range(25)))
    limited = [a for a in acks if not a["ok"] and a["error"]["code"] == "rate_limited"]
    assert 4 <= len(limited) <= 5  # 25 events, a burst of 20 (and a token may have come back meanwhile)
    assert all(a["error"]["details"]["retry_after_s"] > 0 for a in limited)
    other = await running.client()  # another connection has its own budget
    assert (await other.call("subscribe", {"ids": ["counter"]}))["ok"] is True


@pytest.mark.parametrize("settings", [{"event_burst": 50, "event_rate": 10.0}], indirect=True)
async def test_a_client_that_keeps_flooding_is_disconnected_and_others_stream_on(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """A raw websocket sending 2,000 pipelined events is disconnected with a reason; a watcher sees no gap."""
    async with watched(running.url, running.source, clock):
        flooder = await raw_client(running.url)
        frames = [f'42{i}["subscribe",{{"ids":["voltage"],"since":0}}]' for i in range(2000)]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for frame in frames:
                await flooder.send(frame)
            while True:
                await flooder.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "past its budget" in closed.value.rcvd.reason
    metrics = running.metrics
    assert metrics.client_refusals.labels("flooding")._value.get() == 1
    assert metrics.client_refusals.labels("rate_limited")._value.get() >= 1


@pytest.mark.parametrize("settings", [{"event_burst": 10_000, "event_rate": 10_000.0}], indirect=True)
async def test_pipelined_events_never_hold_more_than_the_connection_limit(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """3,000 pipelined resumes from one connection: at most 16 run at once, the rest are rate_limited."""
    for i in range(200):
        running.source.emit("voltage", float(i), clock())
    async with watched(running.url, running.source, clock):
        flooder = await raw_client(running.url)
        for i in range(3000):
            await flooder.send(f'42{i}["subscribe",{{"ids":["voltage"],"since":0}}]')
        acks: dict[int, dict[str, object]] = {}
        async with asyncio.timeout(30):
            while len(acks) < 3000:
                frame = str(await flooder.recv())
                if frame.startswith("43"):
                    start = frame.index("[")
                    acks[int(frame[2:start])] = json.loads(frame[start:])[0]
        await flooder.close()
    refused = [a for a in acks.values() if not a["ok"]]
    assert refused and {a["error"]["code"] for a in refused} == {"rate_limited"}  # type: ignore[index]
    assert running.metrics.client_refusals.labels("rate_limited")._value.get() == len(refused)


async def test_an_event_name_that_is_not_a_string_gets_an_ack(running: RunningHub) -> None:
    """An event named by an object or a list is answered bad_request, over websocket and long-polling."""
    ws = await raw_client(running.url)
    await ws.send('421[{"a":1},{"ids":["counter"]}]')
    await ws.send("422[[1,2]]")
    answers = sorted([str(await ws.recv()), str(await ws.recv())])
    assert [json.loads(a[3:])[0]["error"]["code"] for a in answers] == ["bad_request", "bad_request"]
    await ws.close()
    session = await PollingSession(running.url).open()
    await session.post('423[{"a":1}]')
    assert (await session.acks(1))[3]["error"]["code"] == "bad_request"
    await session.close()


async def test_the_hub_answers_every_packet_of_a_polling_post(running: RunningHub) -> None:
    """Sixteen events in one long-polling POST get sixteen acks."""
    session = await PollingSession(running.url).open()
    response = await session.post(*(f'42{i}["subscribe",{{"ids":["counter"]}}]' for i in range(16)))
    assert response.status_code == 200
    acks = await session.acks(16)
    assert sorted(acks) == list(range(16)) and all(a["ok"] for a in acks.values())
    await session.close()


async def test_a_polling_post_of_more_than_sixteen_packets_is_refused(running: RunningHub) -> None:
    """Seventeen packets in one POST get 400 saying so, not 200 with every packet dropped."""
    session = await PollingSession(running.url).open()
    response = await session.post(*(f'42{i}["subscribe",{{"ids":["counter"]}}]' for i in range(17)))
    assert response.status_code == 400 and "at most 16" in response.json()["message"]
    await session.close()


async def test_a_chunked_polling_post_is_read_whole(running: RunningHub) -> None:
    """A POST with a chunked body (no Content-Length) is read and its events answered."""
    session = await PollingSession(running.url).open()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'420["subscribe",'
        yield b'{"ids":["counter"]}]'

    response = await session.http.post(
        "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": session.sid}, content=chunks()
    )
    assert response.status_code == 200
    assert (await session.acks(1))[0]["ok"] is True
    await session.close()


async def test_a_chunked_polling_post_past_the_limit_is_413(running: RunningHub) -> None:
    """A chunked POST is bounded by HUB_MAX_MESSAGE_BYTES like one that says its length."""
    session = await PollingSession(running.url).open()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"4" * 100_000

    response = await session.http.post(
        "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": session.sid}, content=chunks()
    )
    assert response.status_code == 413
    await session.close()


async def test_http_is_still_answered_while_a_client_floods(running: RunningHub) -> None:
    """/health answers while twenty connections flood commands past their budgets."""
    flooders = [await raw_client(running.url) for _ in range(20)]

    async def flood(ws: websockets.ClientConnection) -> None:
        try:
            for i in range(1000):
                await ws.send(f"42{i}{SET_MODE}")
        except websockets.ConnectionClosed:
            return

    flooding = [asyncio.create_task(flood(ws)) for ws in flooders]
    async with httpx.AsyncClient(base_url=running.url, timeout=5) as http:
        assert (await http.get("/health")).status_code == 200
    await asyncio.gather(*flooding)
    for ws in flooders:
        await ws.close()


@pytest.mark.parametrize(
    "settings", [{"address_event_burst": 60, "address_event_rate": 0.01, "event_burst": 1000}], indirect=True
)
async def test_reconnecting_does_not_renew_the_budget_of_an_address(running: RunningHub) -> None:
    """Connections from one address share its budget: reconnecting for a fresh one gets rate_limited, and
    so does a connect once the budget is spent."""
    answered = 0
    for _ in range(5):  # each connect takes a token, and each event one
        client = await running.client()
        acks = [await client.call("subscribe", {"ids": ["counter"]}) for _ in range(20)]
        answered += sum(1 for a in acks if a["ok"])
        if not acks[-1]["ok"]:
            assert acks[-1]["error"]["code"] == "rate_limited"
            break
        await client.close()
    assert answered < 60
    refused = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(running.url)
    assert refused.connect_errors[0]["data"]["code"] == "rate_limited"
