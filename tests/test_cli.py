"""`python -m hub.cli` run as a subprocess against a real hub process (main.py with the simulator)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth import hash_token
from tests.support import ROOT, Client, HubProcess, free_port, is_, main_process, write_log

TOKEN = "viewer-token-for-the-cli-tests-0123"
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


@dataclass
class Run:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def environment() -> dict[str, str]:
    """This environment without the tool's own variables, so that only the flags count."""
    return {k: v for k, v in os.environ.items() if k not in ("HUB_URL", "HUB_TOKEN")}


async def cli(url: str, *args: str, within: float = 30) -> Run:
    """Run the terminal tool against `url`: its exit status and output (a traceback fails the test)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "--url", url, *args,
        cwd=ROOT, env=environment(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    run = Run(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in run.err, run.err
    return run


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubProcess]:
    """A hub process with the simulator and a SQLite log, as main.py starts it."""
    async with main_process(["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]) as process:
        yield process


async def history(url: str, **params: Any) -> list[dict[str, Any]]:
    """The items /historical-data answers for `params`."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/historical-data", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def values_of(url: str, *ids: str, count: int = 1) -> None:
    """Wait until the hub has streamed `count` values of each id (a subscriber then gets one of each at
    once)."""
    client = await Client().connect(url)
    try:
        await client.call("subscribe", {"ids": list(ids)})
        for telemetry_id in ids:
            await client.wait_for(is_("data", id=telemetry_id), count=count)
    finally:
        await client.close()


def table_rows(run: Run) -> dict[str, list[str]]:
    """The rows of a printed table by their first cell, below the header and its rule."""
    rule = next(i for i, line in enumerate(run.lines) if line.strip() and set(line.strip()) == {"─"})
    return {line.split()[0]: line.split() for line in run.lines[rule + 1 :] if line.strip()}


async def test_tail_count_prints_a_row_with_the_latest_value_of_each_id(hub: HubProcess) -> None:
    """`tail --count` prints one row per id, with the value, unit, timestamp and seq of a logged message."""
    ids = ("battery_voltage", "battery_temp")
    await values_of(hub.url, *ids)
    run = await cli(hub.url, "tail", *ids, "--count", "4")
    assert run.status == 0, run.err
    assert run.lines[0].split() == ["id", "value", "unit", "state", "timestamp", "age", "seq"]
    rows = table_rows(run)
    assert set(rows) == set(ids)
    for telemetry_id, unit in zip(ids, ("V", "°C"), strict=True):
        _, value, shown_unit, state, timestamp, _, seq = rows[telemetry_id]
        assert shown_unit == unit
        assert state in {"nominal", "warning_low", "warning_high", "critical_low", "critical_high"}
        logged = await history(hub.url, ids=telemetry_id, type="data", after_seq=int(seq) - 1, limit=1)
        assert logged[0]["seq"] == int(seq)
        assert (logged[0]["value"], logged[0]["timestamp"]) == (float(value), timestamp)


async def test_tail_of_a_group_once_and_an_unknown_id(hub: HubProcess) -> None:
    """`tail --group` shows every id of the group; an unknown id exits 1 naming it, no id at all exits 2."""
    await values_of(hub.url, "battery_voltage")
    run = await cli(hub.url, "tail", "--group", "power", "--once")
    assert run.status == 0, run.err
    rows = table_rows(run)
    assert set(rows) == {
        "battery_voltage", "battery_current", "battery_soc", "solar_array_current", "solar_array_deployed"
    }  # fmt: skip
    assert rows["battery_voltage"][1] != "-"
    unknown = await cli(hub.url, "tail", "battery_voltage", "no_such_sensor")
    assert unknown.status == 1
    assert "unknown_telemetry_type" in unknown.err and "no_such_sensor" in unknown.err
    nothing = await cli(hub.url, "tail")
    assert nothing.status == 2 and "--group" in nothing.err


async def test_send_prints_the_ack_then_each_confirmation_until_completed(hub: HubProcess) -> None:
    """`send` prints the ack, then each confirmation with its logged seq, and stops once it completed."""
    run = await cli(hub.url, "send", "set_mode", "mode=safe")
    assert run.status == 0, run.out + run.err
    ack, *steps = run.lines
    assert ack.startswith("ack: ok, command ") and "accepted" in ack
    command_id = ack.split()[3]
    assert [line.split()[1] for line in steps] == ["accepted", "executing", "completed"]
    logged = await history(hub.url, type="confirmation")
    assert [m["status"] for m in logged if m["command_id"] == command_id] == [
        "accepted", "executing", "completed"
    ]  # fmt: skip
    assert [int(line.split()[3]) for line in steps] == [m["seq"] for m in logged]


async def test_send_types_parameters_from_the_template(hub: HubProcess) -> None:
    """bool and float parameters reach the hub as JSON booleans and numbers (it refuses "true" text)."""
    run = await cli(hub.url, "send", "set_heater", "heater=battery", "enabled=true", "setpoint_c=21.5")
    assert run.status == 0, run.out + run.err
    accepted = json.loads(run.lines[1].split()[4])
    assert accepted == {"heater": "battery", "enabled": True, "setpoint_c": 21.5}
    raw = await cli(hub.url, "send", "set_transmitter_power", "--json", '{"level_dbm": 20}')
    assert raw.status == 0, raw.out + raw.err


async def test_send_refused_or_failed_exits_1_with_the_error_code(hub: HubProcess) -> None:
    """A refused command exits 1 with its error code, a failed one with its reason; bad arguments exit 2."""
    bad = await cli(hub.url, "send", "set_mode", "mode=warp")
    assert bad.status == 1
    assert bad.lines[0].startswith("refused: invalid_parameters:") and "warp" in bad.lines[0]
    wrong_type = await cli(hub.url, "send", "set_transmitter_power", "level_dbm=loud")
    assert wrong_type.status == 1 and "invalid_parameters" in wrong_type.out
    unknown = await cli(hub.url, "send", "self_destruct")
    assert unknown.status == 1 and "unknown_command" in unknown.out
    failed = await cli(hub.url, "send", "set_mode", "mode=science")  # the array is not deployed yet
    assert failed.status == 1
    assert failed.lines[-1].split()[1] == "failed" and "solar array" in failed.lines[-1]
    malformed = await cli(hub.url, "send", "set_mode", "safe")
    assert malformed.status == 2 and "key=value" in malformed.err


async def test_history_csv_matches_historical_data(hub: HubProcess) -> None:
    """`history --csv` prints what /historical-data has, a page, every page or aggregated; bad input fails."""
    await values_of(hub.url, "battery_voltage", "battery_temp", count=3)
    logged = await history(hub.url, ids="battery_voltage,battery_temp", type="data")
    end = logged[-1]["timestamp"]  # a fixed window, while the simulator goes on
    expected = await history(hub.url, ids="battery_voltage,battery_temp", type="data", end=end)
    assert len(expected) >= 4
    args = ("history", "--ids", "battery_voltage,battery_temp", "--type", "data", "--end", end, "--csv")
    one_page = await cli(hub.url, *args, "--limit", "2")
    rows = list(csv.reader(io.StringIO(one_page.out)))
    assert rows[0] == ["seq", "timestamp", "type", "id", "value"]
    assert rows[1:] == [
        [str(m["seq"]), m["timestamp"], "data", m["id"], json.dumps(m["value"])] for m in expected[:2]
    ]
    every_page = await cli(hub.url, *args, "--limit", "1", "--all-pages")
    assert every_page.status == 0
    assert [int(row[0]) for row in list(csv.reader(io.StringIO(every_page.out)))[1:]] == [
        m["seq"] for m in expected
    ]
    aggregates = await cli(
        hub.url, "history", "--ids", "battery_voltage", "--interval", "1d", "--agg", "min,count", "--csv"
    )
    assert aggregates.status == 0, aggregates.err
    header, row = list(csv.reader(io.StringIO(aggregates.out)))[:2]
    assert header == ["id", "start", "min", "count"] and row[0] == "battery_voltage" and int(row[3]) > 0
    refused = await cli(hub.url, "history", "--ids", "battery_voltage", "--interval", "10x", "--agg", "min")
    assert refused.status == 1 and "interval" in refused.err and "422" in refused.err


async def test_history_ranges_answer_the_extremes_of_the_last_hour_day_7_and_30_days(tmp_path: Path) -> None:
    """`history --range` with `--size` asks minmax for the last 1h, 1d, 7d or 30d: the answer holds the lowest
    and highest point of that range as logged, and nothing from before it."""
    now = time.time_ns() // 1000
    ago = {"31d": 31 * DAY_US, "29d": 29 * DAY_US, "3d": 3 * DAY_US, "5h": 5 * HOUR_US, "3h": 3 * HOUR_US}
    values = {"31d": 5000.0, "29d": 4000.0, "3d": 2000.0, "5h": -1000.0, "3h": 1000.0}
    ordinary = [("battery_voltage", now - n * HOUR_US, 28.0) for n in (600, 40, 2)]
    points = [("battery_voltage", now - ago[name], value) for name, value in values.items()]
    logged = await write_log(tmp_path / "history.db", points + ordinary)
    by_seq = {
        str(m["seq"]): [str(m["seq"]), m["timestamp"], "data", m["id"], json.dumps(m["value"])]
        for m in logged
    }
    by_value = {m["value"]: str(m["seq"]) for m in logged}
    ranges = {  # the extremes of each range, and the points before it
        "30d": ((-1000.0, 4000.0), (5000.0,)),
        "7d": ((-1000.0, 2000.0), (5000.0, 4000.0)),
        "1d": ((-1000.0, 1000.0), (5000.0, 4000.0, 2000.0)),
    }
    async with main_process(["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]) as hub:
        for length, (extremes, before) in ranges.items():
            run = await cli(
                hub.url, "history", "--ids", "battery_voltage", "--range", length, "--size", "4", "--csv"
            )
            assert run.status == 0, run.err
            header, *rows = list(csv.reader(io.StringIO(run.out)))
            assert header == ["seq", "timestamp", "type", "id", "value"]
            assert len(rows) <= 4 + 2  # size, and a bucket more where the range cuts the first and last
            seqs = [row[0] for row in rows]
            assert seqs == sorted(seqs, key=int)
            assert {by_value[value] for value in extremes} <= set(seqs), (length, rows)
            assert not {by_value[value] for value in before} & set(seqs), (length, rows)
            assert all(row == by_seq[row[0]] for row in rows if row[0] in by_seq)  # exactly as logged
        last_hour = await cli(
            hub.url, "history", "--ids", "battery_voltage", "--range", "1h", "--size", "100"
        )
        assert last_hour.status == 0, last_hour.err
        shown = table_rows(last_hour)  # only what the simulator streamed since the hub started
        assert not set(shown) & set(by_seq)
        assert "messages" in last_hour.err


async def test_history_range_excludes_start_and_checks_end(hub: HubProcess) -> None:
    """--range and --start together are refused by the command line (exit 2), as is an --end with --range
    that is no time; --range with --end ends there."""
    both = await cli(hub.url, "history", "--range", "1h", "--start", "now-2h")
    assert both.status == 2 and "argument --start: not allowed with argument --range" in both.err
    unknown = await cli(hub.url, "history", "--range", "2h")
    assert unknown.status == 2 and "invalid choice: '2h'" in unknown.err
    bad_end = await cli(hub.url, "history", "--range", "1h", "--end", "yesterday")
    assert bad_end.status == 2 and "--end 'yesterday'" in bad_end.err
    await values_of(hub.url, "battery_voltage")
    before = await cli(hub.url, "history", "--ids", "battery_voltage", "--range", "1d", "--end", "now-1h")
    assert before.status == 0, before.err
    assert "0 messages" in before.err  # the hub started just now: nothing an hour ago


async def test_tail_resumes_after_the_hub_restarts(tmp_path: Path) -> None:
    """On a pipe, tail prints a line per value; across a clean restart of the hub it resumes with `since`:
    the values it printed are exactly those of the log, none missing, none twice."""
    port = free_port()
    flags = ["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]
    async with main_process(flags, port=port) as first:
        tail = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "--url", first.url, "tail", "battery_voltage",
            cwd=ROOT, env=environment(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert tail.stdout is not None
        try:
            before = [await asyncio.wait_for(tail.stdout.readline(), 10) for _ in range(3)]
            first.process.send_signal(signal.SIGTERM)
            assert await first.process.wait() == 0
            async with main_process(flags, port=port) as second:
                after = [await asyncio.wait_for(tail.stdout.readline(), 20) for _ in range(6)]
                lines = [line.decode().rstrip("\n").split("\t") for line in before + after]
                since = int(lines[0][0]) - 1
                logged = await history(second.url, ids="battery_voltage", type="data", after_seq=since)
        finally:
            tail.terminate()
            _, err = await tail.communicate()
    assert all(fields[2] == "battery_voltage" and fields[4] == "V" for fields in lines)
    assert "reconnected" in err.decode()
    assert [int(fields[0]) for fields in lines] == [m["seq"] for m in logged[: len(lines)]]
    assert [json.loads(fields[3]) for fields in lines] == [m["value"] for m in logged[: len(lines)]]


async def test_tokens_and_an_unreachable_hub(tmp_path: Path) -> None:
    """No token is a 401, a viewer's command is forbidden; an unreachable hub or a bad --url is an error."""
    env = {"HUB_TOKENS": f"viewer:{hash_token(TOKEN)}"}
    async with main_process(["--history-url", "memory://"], env) as hub:
        refused = await cli(hub.url, "tail", "battery_voltage", "--once")
        assert refused.status == 1 and "401" in refused.err and "Authorization: Bearer" in refused.err
        no_token = await cli(hub.url, "history", "--limit", "1")
        assert no_token.status == 1 and "401" in no_token.err
        allowed = await cli(hub.url, "--token", TOKEN, "history", "--limit", "1", "--csv")
        assert allowed.status == 0 and allowed.lines[0].startswith("seq,")
        viewer = await cli(hub.url, "send", "--token", TOKEN, "set_mode", "mode=safe")  # after the command
        assert viewer.status == 1 and viewer.lines[0].startswith("refused: forbidden:")
    nobody = f"http://127.0.0.1:{free_port()}"
    for args in (["history"], ["tail", "battery_voltage"], ["send", "set_mode", "mode=safe"]):
        unreachable = await cli(nobody, *args)
        assert unreachable.status == 1 and "cannot reach the hub" in unreachable.err
    bad_url = await cli("127.0.0.1:8000", "history")
    assert bad_url.status == 2 and "--url" in bad_url.err
