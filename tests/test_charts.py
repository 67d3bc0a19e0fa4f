"""Chart parameters of /historical-data: every refusal is a 422 naming the parameter; aggregates of any
datatype where they apply; the cap on buckets. (The numbers, on every backend, are in test_http.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.history import HistoryLog, Record
from hub.history.memory import MemoryHistory
from hub.templates import Value, load_templates
from hub.web.charts import MAX_BUCKETS, answer, parse_interval, plan
from hub.web.problems import ParameterError
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES
from tests.support import is_

START, END = "2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z"
RANGE = {"start": START, "end": END}
T0 = 1_800_000_000  # seconds; a multiple of 10 s, 1 min, 1 h and 1 d


@pytest.fixture
async def http(running: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running hub."""
    async with httpx.AsyncClient(base_url=running.url) as client:
        yield client


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"interval": "5x", "agg": "min"}, "interval"),
        ({"interval": "0s", "agg": "min"}, "interval"),
        ({"interval": "1.5s", "agg": "min"}, "interval"),
        ({"interval": "10001d", "agg": "min"}, "interval"),
        ({"interval": "1m", "buckets": 4, "agg": "min", **RANGE}, "buckets"),
        ({"buckets": 4, "agg": "min"}, "buckets"),
        ({"buckets": 4, "agg": "min", "start": START}, "buckets"),
        ({"buckets": 0, "agg": "min", **RANGE}, "buckets"),
        ({"buckets": MAX_BUCKETS + 1, "agg": "min", **RANGE}, "buckets"),
        ({"buckets": "many", "agg": "min", **RANGE}, "buckets"),
        ({"agg": "min"}, "agg"),
        ({"interval": "1m"}, "agg"),
        ({"interval": "1m", "agg": "median"}, "agg"),
        ({"interval": "1m", "agg": "min,,mode"}, "agg"),
        ({"interval": "1m", "agg": ","}, "agg"),
        ({"size": 10}, "size"),
        ({"strategy": "latest"}, "size"),
        ({"strategy": "latest", "size": 0}, "size"),
        ({"strategy": "latest", "size": 10_001}, "size"),
        ({"strategy": "minmax", "size": 1, **RANGE}, "size"),
        ({"strategy": "minmax", "size": 10}, "strategy"),
        ({"strategy": "minmax", "size": 10, "start": START}, "strategy"),
        ({"strategy": "bogus", "size": 10}, "strategy"),
        ({"strategy": "latest", "size": 10, "interval": "1m"}, "strategy"),
        ({"strategy": "latest", "size": 10, "agg": "min"}, "strategy"),
        ({"interval": "1m", "agg": "min", "cursor": "WzEsIngiXQ"}, "cursor"),
        ({"interval": "1m", "agg": "min", "after_seq": 3}, "after_seq"),
        ({"interval": "1m", "agg": "min", "limit": 5}, "limit"),
        ({"strategy": "latest", "size": 5, "order": "desc"}, "order"),
        ({"interval": "1m", "agg": "count", "type": "notification"}, "type"),
    ],
)
async def test_bad_chart_parameters_give_422_naming_them(
    http: httpx.AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    """Each nonsensical combination is a 422 whose message and detail name the parameter, never a 500."""
    response = await http.get("/historical-data", params={"ids": "voltage", **params})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"].startswith(f"{parameter}: ") and body["detail"][0]["parameter"] == parameter


async def test_too_many_buckets_says_how_many_and_what_to_do(http: httpx.AsyncClient) -> None:
    """A range and interval making more than 10,000 buckets per id is refused, saying how many."""
    params = {"ids": "voltage", "interval": "1s", "agg": "min", "start": START, "end": "2027-01-15T11:00:00Z"}
    body = (await http.get("/historical-data", params=params)).json()
    assert body["message"] == (
        "interval: 1s cuts start to end into 10,800 buckets, more than 10,000: "
        "take a longer interval or a shorter range"
    )
    params["end"] = "2027-01-15T10:46:40Z"  # exactly 10,000 buckets
    assert (await http.get("/historical-data", params=params)).status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        (
            {"ids": "voltage,mode", "interval": "1m", "agg": "count,min"},
            "agg",
            "min needs numeric telemetry; mode",
        ),
        ({"ids": "heater_on", "interval": "1m", "agg": "avg"}, "agg", "heater_on is bool"),
        ({"ids": "label", "strategy": "minmax", "size": 10, **RANGE}, "strategy", "label is string"),
        ({"interval": "1m", "agg": "count"}, "ids", "name the telemetry ids"),
    ],
)
async def test_numeric_aggregates_refuse_other_types_naming_the_id(
    http: httpx.AsyncClient, params: dict[str, Any], parameter: str, words: str
) -> None:
    """min, max, avg and minmax need int or float telemetry: a 422 names the parameter and the id."""
    response = await http.get("/historical-data", params=params)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{parameter}: ") and words in response.json()["message"]


async def test_count_first_and_last_take_every_type(running: RunningHub, http: httpx.AsyncClient) -> None:
    """Booleans and strings have counts and first/last values, typed as streamed; repeated and
    comma-separated agg combine; rows follow the order of ids."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["heater_on", "label"]})
    events: list[tuple[str, Value]] = [
        ("heater_on", True), ("label", "one"), ("heater_on", False), ("label", "two"),
    ]  # fmt: skip
    for offset, (telemetry_id, value) in enumerate(events):
        running.source.emit(telemetry_id, value, T0 + offset)
    await client.wait_for(is_("data"), count=4)
    params = {"ids": "label,heater_on", "interval": "1h", "agg": ["last", "count,first"]}
    body = (await http.get("/historical-data", params=params)).json()
    start = "2027-01-15T08:00:00.000000Z"
    assert body == {
        "width_us": 3_600_000_000,
        "aggregates": ["last", "count", "first"],
        "rows": [
            {"id": "label", "start": start, "last": "two", "count": 2, "first": "one"},
            {"id": "heater_on", "start": start, "last": False, "count": 2, "first": True},
        ],
    }


async def test_more_non_empty_buckets_than_the_cap_are_refused() -> None:
    """With no end the bucket count is known only from the data: past 10,000 for an id it is a 422."""
    log = HistoryLog(MemoryHistory())
    await log.open()
    for i in range(MAX_BUCKETS + 1):
        seq = log.next_seq()
        log.append(Record(seq, "data", "voltage", i * 1000, f'{{"value":{i}.5}}'))
    types = {t.id: t for t in load_templates(TEST_TEMPLATES).telemetry_types}
    chart = plan("1ms", None, ["count"], None, None, None, None)
    assert chart is not None
    with pytest.raises(ParameterError, match="more than 10,000 buckets for voltage") as refused:
        await answer(log, types, chart, ("voltage",))
    assert refused.value.parameter == "interval"
    fewer = plan("2ms", None, ["count"], None, None, None, None)
    assert fewer is not None and b'"count":2' in await answer(log, types, fewer, ("voltage",))


def test_intervals_are_whole_numbers_of_a_unit() -> None:
    """ms, s, m, h and d, in microseconds; interval buckets align to whole multiples since the epoch."""
    assert [parse_interval(t) for t in ("250ms", "10s", "1m", "2h", "1d")] == [
        250_000, 10_000_000, 60_000_000, 7_200_000_000, 86_400_000_000,
    ]  # fmt: skip
    chart = plan("1m", None, ["min"], None, None, 90_500_000, None)
    assert chart is not None and (chart.origin_us, chart.start_us) == (60_000_000, 90_500_000)
    split = plan(None, 3, ["min"], None, None, 0, 10)
    assert split is not None and (split.origin_us, split.width_us) == (0, 1_000)  # the ladder's first step


@pytest.mark.parametrize(
    ("hours", "width"),
    [(1, "5s"), (24, "2m"), (7 * 24, "15m"), (30 * 24, "1h"), (365 * 24, "12h"), (3 * 365 * 24, "2d")],
)
def test_a_thousand_buckets_round_up_to_a_width_of_the_ladder(hours: int, width: str) -> None:
    """buckets=1000 over 1 h, 1 day, 7 and 30 days gets 5 s, 2 min, 15 min and 1 h buckets (each read
    from one tier: 1 s, 1 min, 15 min, 1 h rows), aligned to whole multiples of the width; past a day,
    whole days."""
    start = 1_800_000_123_456_789
    chart = plan(None, 1000, ["min"], None, None, start, start + hours * 3_600_000_000)
    assert chart is not None and chart.width_us == parse_interval(width)
    assert chart.origin_us % chart.width_us == 0
    assert chart.origin_us <= start < chart.origin_us + chart.width_us
    minmax = plan(None, None, None, "minmax", 1000, start, start + hours * 3_600_000_000)
    assert minmax is not None and minmax.width_us >= chart.width_us
