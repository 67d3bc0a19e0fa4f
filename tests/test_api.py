"""The HTTP API against a running hub: health, templates, history queries and paging, clearing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.history import HistoryBackend
from hub.history.memory import MemoryHistory
from hub.messages import format_timestamp
from hub.settings import Settings
from tests.backends import Store
from tests.conftest import ADMIN_TOKEN, RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource, UnreadableHistory, UnwritableHistory
from tests.support import is_, serve


@pytest.fixture
def history(store: Store) -> HistoryBackend:
    """Every HTTP test runs on each history backend (memory, SQLite, PostgreSQL)."""
    return store()


@pytest.fixture
async def http(running: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running hub."""
    async with httpx.AsyncClient(base_url=running.url) as client:
        yield client


async def stream(running: RunningHub, clock: Callable[[], float], count: int) -> list[dict[str, Any]]:
    """Produce `count` values of voltage and counter alternately; return all a subscriber received."""
    client = await running.client()
    await client.call("subscribe", {"all": True})
    for i in range(count):
        running.source.emit(("voltage", "counter")[i % 2], (28.0 + i / 10, i)[i % 2], clock())
    await client.wait_for(is_("data"), count=count)
    return list(client.received)


async def test_health_reports_source_history_and_clients(
    running: RunningHub, http: httpx.AsyncClient
) -> None:
    """/health is ok with the source running and says how many clients and messages there are."""
    await running.client()
    body = (await http.get("/health")).json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["clients"] == 1 and body["uptime_s"] >= 0
    assert body["source"] == {"name": "fake", "state": "running", "error": None}
    assert body["history"]["backend"] in ("memory", "sqlite", "postgres") and body["history"]["messages"] >= 1


async def test_health_is_degraded_when_the_source_is_down(
    running: RunningHub, http: httpx.AsyncClient
) -> None:
    """A failed source makes /health degraded with the reason."""
    watcher = await running.client()
    running.source.crash(ConnectionError("cable cut"))
    await watcher.wait_for(is_("notification", code="source_disconnected"))
    body = (await http.get("/health")).json()
    assert body["status"] == "degraded" and "source down" in body["reason"]
    assert body["source"]["error"] == "ConnectionError: cable cut"


async def test_templates_are_served(running: RunningHub, http: httpx.AsyncClient) -> None:
    """The two template lists are served as JSON arrays with their full definitions."""
    types = (await http.get("/telemetry-types")).json()
    assert [t["id"] for t in types] == ["voltage", "current", "counter", "heater_on", "mode", "label"]
    assert types[0]["limits"]["critical"] == {"low": 20.0, "high": 36.0} and "simulation" not in types[0]
    commands = (await http.get("/command-templates")).json()
    configure = next(c for c in commands if c["command"] == "configure")
    assert configure["timeout_s"] == 10.0
    assert configure["parameters"][0] == {
        "name": "gain", "type": "float", "required": False, "default": 1.0, "min": 0.5, "max": 2.0,
        "values": None, "description": None,
    }  # fmt: skip


async def test_history_returns_messages_exactly_as_streamed(
    running: RunningHub, http: httpx.AsyncClient, clock: Callable[[], float]
) -> None:
    """Every streamed message is in the log, byte-for-byte the same object, newest included."""
    received = await stream(running, clock, 30)
    page = (await http.get("/historical-data", params={"type": "data"})).json()
    assert page == {"items": [m for m in received if m["type"] == "data"], "next": None}


async def test_history_filters(
    running: RunningHub, http: httpx.AsyncClient, clock: Callable[[], float]
) -> None:
    """ids, type, start/end, after_seq, limit and order each narrow the result as documented."""
    received = await stream(running, clock, 20)
    data = [m for m in received if m["type"] == "data"]

    async def items(**params: Any) -> list[dict[str, Any]]:
        response = await http.get("/historical-data", params=params)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["items"]
        return result

    assert await items(ids="counter") == [m for m in data if m["id"] == "counter"]
    assert await items(ids="counter,voltage", type="data") == data
    every = await items()
    assert {m["type"] for m in every} == {"data", "notification"} and every == sorted(
        every, key=lambda m: m["seq"]
    )
    assert await items(type="notification,confirmation") == [m for m in every if m["type"] != "data"]
    assert await items(type="data", start=data[5]["timestamp"], end=data[9]["timestamp"]) == data[5:9]
    assert await items(type="data", after_seq=data[15]["seq"]) == data[16:]
    assert await items(type="data", limit=3) == data[:3]
    assert await items(type="data", order="desc", limit=2) == [data[-1], data[-2]]
    naive = data[5]["timestamp"].removesuffix("Z")
    assert await items(type="data", start=naive, limit=1) == [data[5]]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_cursor_pages_without_gaps_or_repeats(
    running: RunningHub, http: httpx.AsyncClient, clock: Callable[[], float], order: str
) -> None:
    """Following `next` with the same filters visits every message once, in order, and ends with null."""
    received = await stream(running, clock, 25)
    expected = [m for m in received if m["id"] == "voltage"]
    pages, seen, cursor = 0, [], None
    while True:
        params: dict[str, Any] = {"ids": "voltage", "type": "data", "limit": 4, "order": order}
        response = await http.get(
            "/historical-data", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        body = response.json()
        seen += body["items"]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == (expected if order == "asc" else expected[::-1])
    assert pages == 4  # 13 items, 4 per page


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "up"}, "order"),
        ({"type": "telemetry"}, "type"),
        ({"type": ","}, "type"),
        ({"ids": "voltage,nope"}, "ids"),
        ({"ids": ","}, "ids"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-45T00:00:00Z"}, "end"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
        ({"after_seq": -1}, "after_seq"),
        ({"after_seq": "x"}, "after_seq"),
        ({"after_seq": 2**63}, "after_seq"),
        ({"cursor": "WzkyMjMzNzIwMzY4NTQ3NzU4MDgsIngiXQ"}, "cursor"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "WzEsIngiXQ"}, "cursor"),
    ],
)
async def test_invalid_query_parameters_give_422_naming_them(
    http: httpx.AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    """A bad value is a 422 whose message starts with the parameter's name, never a 500."""
    response = await http.get("/historical-data", params=params)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{parameter}: ")


async def test_a_cursor_for_other_filters_is_refused(
    running: RunningHub, http: httpx.AsyncClient, clock: Callable[[], float]
) -> None:
    """Reusing a cursor with different filters is a 422, not a silent skip."""
    await stream(running, clock, 10)
    first = (await http.get("/historical-data", params={"type": "data", "limit": 2})).json()
    response = await http.get("/historical-data", params={"type": "notification", "cursor": first["next"]})
    assert response.status_code == 422 and "other filters" in response.json()["message"]


async def test_clearing_needs_the_admin_token(
    running: RunningHub, http: httpx.AsyncClient, clock: Callable[[], float]
) -> None:
    """DELETE answers 401 without the right token, and deletes (all or before a time) with it."""
    received = await stream(running, clock, 10)
    assert (await http.delete("/historical-data")).status_code == 401
    wrong = await http.delete("/historical-data", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "Bearer" in wrong.json()["message"]
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    before = received[-1]["timestamp"]
    older = [m for m in (await http.get("/historical-data")).json()["items"] if m["timestamp"] < before]
    response = await http.delete("/historical-data", params={"before": before}, headers=auth)
    assert response.json() == {"deleted": len(older)}
    assert (await http.delete("/historical-data", headers=auth)).json()["deleted"] >= 1
    assert (await http.get("/historical-data")).json() == {"items": [], "next": None}
    running.source.emit("counter", 99, clock())
    client = running._clients[0]
    [latest] = await client.wait_for(is_("data", value=99))
    assert latest["seq"] > received[-1]["seq"]


async def test_clearing_is_forbidden_without_an_admin_token(source: FakeSource) -> None:
    """With no admin token configured DELETE is 403 and says how to enable it."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://")
    async with (
        serve(create_app(settings, source=source, history=MemoryHistory())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        response = await http.delete("/historical-data", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403 and "HUB_ADMIN_TOKEN" in response.json()["message"]


async def test_charts_aggregate_and_downsample(running: RunningHub, http: httpx.AsyncClient) -> None:
    """interval, buckets, strategy=latest and strategy=minmax give the hand-computed answers."""
    t0 = 1_800_000_000  # 2027-01-15T08:00:00Z
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage", "counter"]})
    points = [
        ("voltage", 0, 27.5), ("voltage", 0.5, 29.0), ("voltage", 1, 30.5), ("counter", 2, 5),
        ("counter", 3, 7), ("voltage", 12, 25.0), ("voltage", 13, 27.0),
    ]  # fmt: skip
    for telemetry_id, offset, value in points:
        running.source.emit(telemetry_id, value, t0 + offset)
    data = await client.wait_for(is_("data"), count=len(points))

    def at(offset: float) -> str:
        return format_timestamp(round((t0 + offset) * 1e6))

    every = "min,max,avg,count,first,last"
    rows = [
        {"id": "voltage", "start": at(0), "min": 27.5, "max": 30.5, "avg": 29.0, "count": 3, "first": 27.5,
         "last": 30.5},
        {"id": "voltage", "start": at(10), "min": 25.0, "max": 27.0, "avg": 26.0, "count": 2, "first": 25.0,
         "last": 27.0},
        {"id": "counter", "start": at(0), "min": 5, "max": 7, "avg": 6.0, "count": 2, "first": 5, "last": 7},
    ]  # fmt: skip
    span = {"ids": "voltage,counter", "start": at(0), "end": at(20)}
    for split in ({"interval": "10s"}, {"buckets": 2}):
        body = (await http.get("/historical-data", params={**span, **split, "agg": every})).json()
        assert body == {"width_us": 10_000_000, "aggregates": every.split(","), "rows": rows}
        assert [type(row["min"]) for row in body["rows"]] == [float, float, int]

    async def items(**params: Any) -> list[dict[str, Any]]:
        response = await http.get("/historical-data", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["next"] is None
        result: list[dict[str, Any]] = response.json()["items"]
        return result

    assert await items(ids="voltage,counter", strategy="latest", size=1) == [data[4], data[6]]
    assert await items(ids="voltage", strategy="latest", size=2, end=at(12.5)) == [data[2], data[5]]
    minmax = await items(**span, strategy="minmax", size=4)
    assert minmax == [m for m in data if m["value"] != 29.0]


async def test_openapi_document_lists_the_endpoints(http: httpx.AsyncClient) -> None:
    """The OpenAPI document is served and describes every endpoint."""
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert {"/health", "/telemetry-types", "/command-templates", "/historical-data"} <= set(paths)
    assert {"get", "delete"} <= set(paths["/historical-data"])
    document = (await http.get("/openapi.json")).json()
    assert {"HistoryPage", "AggregatePage", "AggregateRow"} <= set(document["components"]["schemas"])
    parameters = {p["name"] for p in paths["/historical-data"]["get"]["parameters"]}
    assert {"interval", "buckets", "agg", "strategy", "size"} <= parameters


async def test_an_unwritable_log_still_serves_reads(source: FakeSource, settings: Settings) -> None:
    """With the disk full, GET still answers from memory (newest included); DELETE is 503 with the reason."""
    async with (
        serve(create_app(settings, source=source, history=UnwritableHistory())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        await source.started.wait()
        items = (await http.get("/historical-data")).json()["items"]
        assert [m["code"] for m in items] == ["source_connected"]
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = await http.delete("/historical-data", headers=auth)
        assert response.status_code == 503 and "no space left" in response.json()["message"]


async def test_an_unreadable_log_is_503_not_500(source: FakeSource, settings: Settings) -> None:
    """A backend that cannot be read gives 503 with the reason, never a 500."""
    async with (
        serve(create_app(settings, source=source, history=UnreadableHistory())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        response = await http.get("/historical-data")
        assert response.status_code == 503 and "disk I/O error" in response.json()["message"]
