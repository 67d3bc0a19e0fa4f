"""The Angular example client (clients/angular) in headless Chromium, against a real hub process.

The built app is served by a small static server; the hub runs as `python main.py` with the simulator and a
SQLite log, allowing the static server's origin. Screenshots of the dashboard and of its history plot are
saved as test artifacts (in test-artifacts/, or the folder HUB_TEST_ARTIFACTS names).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, Response, WebSocket, async_playwright, expect

from tests.support import ROOT, free_port, main_process, write_log

ANGULAR = ROOT / "clients" / "angular"
DIST = ANGULAR / "dist" / "telemetry-dashboard" / "browser"
CHROMIUM = Path(os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("HUB_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SENSORS = ("battery_voltage", "attitude_yaw_deg")
_digits = re.compile(r"^\d+$")
_number = re.compile(r"^-?\d+(\.\d+)?$")
MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

pytestmark = [
    pytest.mark.skipif(shutil.which("npm") is None, reason="no npm: building the Angular client needs Node"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.timeout(240),
]


def _sources() -> Iterator[Path]:
    """Everything the build reads."""
    for name in ("angular.json", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.app.json"):
        yield ANGULAR / name
    yield ROOT / "contract" / "hub.ts"
    for folder in (ANGULAR / "src", ANGULAR / "public"):
        yield from (path for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def dist() -> Path:
    """The production build of the app, built unless one newer than every source is there."""
    index = DIST / "index.html"
    newest = max(path.stat().st_mtime for path in _sources())
    if not index.exists() or index.stat().st_mtime < newest:
        if not (ANGULAR / "node_modules" / ".bin" / "ng").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ANGULAR, check=True, timeout=600)
        build = ["npm", "run", "build", "--", "--progress=false"]
        subprocess.run(build, cwd=ANGULAR, check=True, timeout=300)
    return DIST


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def artifacts() -> Path:
    """The folder the tests leave their screenshots in."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def screenshot(artifacts: Path) -> Path:
    """Where the test leaves its screenshot of the dashboard."""
    return artifacts / "dashboard.png"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, driven by Playwright."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def static_origin(dist: Path) -> Iterator[str]:
    """The built app served on a free port of 127.0.0.1; yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(dist)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_dashboard_streams_commands_reloads_and_resumes(
    static_origin: str, browser: Browser, screenshot: Path, tmp_path: Path
) -> None:
    """Subscribe to two sensors and see them change, send set_mode safe from the generated form and follow it
    to `completed` in the feed, reload (the sparklines come back filled from /historical-data), then restart
    the hub: the page resubscribes from the last seq it had, and shows nothing twice."""
    port = free_port()
    flags = ["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]
    env = {"HUB_CORS_ORIGINS": static_origin}
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    frames: list[tuple[str, str]] = []  # ("sent" or "received", Socket.IO packet), in order

    def record(ws: WebSocket) -> None:
        ws.on("framesent", lambda frame: frames.append(("sent", str(frame))))
        ws.on("framereceived", lambda frame: frames.append(("received", str(frame))))

    page.on("websocket", record)
    connection = page.locator("header .connection")

    async with main_process(flags, env, port=port) as hub:
        await page.goto(f"{static_origin}/?hub={hub.url}")
        await expect(connection).to_have_attribute("data-connected", "true")
        for sensor in SENSORS:
            await page.locator(f'input[type=checkbox][value="{sensor}"]').check()
        for sensor in SENSORS:
            await _changes(page, sensor)

        await _command_form(page)

        async with page.expect_response(_history_of(SENSORS[0])) as answer:
            await page.reload()
        items = (await (await answer.value).json())["items"]
        assert len(items) >= 2 and all(item["id"] == SENSORS[0] for item in items)
        # at once at least the history's points, far more than live values alone would give by now
        await page.wait_for_function(
            """([sensor, count]) => Number(document.querySelector(
                `article[data-sensor="${sensor}"] app-sparkline svg`)?.dataset.points) >= count""",
            arg=[SENSORS[0], len(items)],
            timeout=2000,
        )
        await expect(page.locator('.feed li.confirmation[data-status="completed"]')).to_contain_text(
            "set_mode"
        )
        await expect(connection).to_have_attribute("data-connected", "true")
        hub.process.terminate()  # a clean stop: the page sees its connection close
        assert await hub.process.wait() == 0

    await expect(connection).to_have_attribute("data-connected", "false")
    last_seq = int((await page.locator("header .seq").inner_text()).split()[-1])
    async with main_process(flags, env, port=port):
        await expect(connection).to_have_attribute("data-connected", "true", timeout=15_000)
        for sensor in SENSORS:
            await _changes(page, sensor)
        # one resubscription, from the last seq the page had, and the hub filled the gap
        assert _resume_ack(frames, last_seq)["recovered"] is True
        seqs = await page.locator(".feed li").evaluate_all("items => items.map(li => li.dataset.seq)")
        assert len(seqs) == len(set(seqs))
        await page.screenshot(path=screenshot, full_page=True)
        print(f"screenshot: {screenshot}")
    assert problems == []


async def test_history_plot_zooms_from_30_days_to_an_hour_then_goes_on_live(
    static_origin: str, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    """The history plot asks minmax for the last 30 days at about one point per pixel and draws every point of
    the answer across the whole plot; two drags zoom it to about the last hour, answered and drawn the same
    way; then live values are appended at its right edge."""
    sensor = SENSORS[1]  # 10 Hz: live values come soon
    now = time.time_ns() // 1000
    await write_log(tmp_path / "history.db", _month_of(SENSORS, now))
    flags = ["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    plot = page.locator("app-history-plot svg")
    status = page.locator(".history-status")

    async with main_process(flags, {"HUB_CORS_ORIGINS": static_origin}) as hub:
        await page.goto(f"{static_origin}/?hub={hub.url}")
        await expect(page.locator("header .connection")).to_have_attribute("data-connected", "true")
        await page.locator("select[name=history-sensor]").select_option(sensor)
        await expect(status).to_have_attribute("data-answered", _digits)  # the last hour, at first

        asked_at = time.time()
        async with page.expect_response(_minmax_of(sensor)) as answer:
            await page.locator("button[data-range='30d']").click()
        month = await _drawn(page, await answer.value)
        assert abs(month.end - asked_at) < 10 and abs(month.end - month.start - 30 * 86_400) < 0.002
        assert len(month.items) > 500  # a point per pixel, about, from each part of the month
        assert month.trimmed == 0  # the first point is half an hour after the start
        assert month.xs[0] < 0.01 * month.width and month.xs[-1] > 0.99 * month.width

        day = await _zoom(page, plot, 1 / 30)
        assert abs(day.end - day.start - 86_400) < 0.05 * 86_400 and abs(day.end - time.time()) < 10
        hour = await _zoom(page, plot, 1 / 24)
        assert abs(hour.end - hour.start - 3600) < 0.1 * 3600 and abs(hour.end - time.time()) < 10
        assert len(hour.items) > 500  # the dense last hour, downsampled
        assert all(hour.start <= _seconds(item["timestamp"]) < hour.end for item in hour.items)
        assert hour.xs[-1] > 0.95 * hour.width

        # live values join at the right edge, and the span moves on with them
        drawn = len(hour.xs)
        await page.wait_for_function(
            """(drawn) => Number(document.querySelector('.history-status').dataset.live) > 0
                && Number(document.querySelector('app-history-plot svg').dataset.points) > drawn""",
            arg=drawn,
            timeout=10_000,
        )
        live = await _state(page)
        assert len(live["xs"]) == live["points"] == live["answered"] + live["live"] - live["trimmed"]
        assert live["xs"][-1] > live["width"] - 2
        assert _seconds(live["end"]) > hour.end
        screenshot = artifacts / "history.png"
        await page.locator("section.history").screenshot(path=screenshot)
        print(f"screenshot: {screenshot}")
    assert problems == []


async def _changes(page: Page, sensor: str) -> None:
    """The sensor's tile shows a number, then a newer one."""
    value = page.locator(f'article[data-sensor="{sensor}"] .value')
    await expect(value).to_have_attribute("data-seq", _digits)
    first = await value.get_attribute("data-seq")
    await expect(value).not_to_have_attribute("data-seq", first or "")
    await expect(value).to_have_text(_number)


async def _command_form(page: Page) -> None:
    """A value out of range is refused in the page; set_mode safe goes through to `completed`."""
    await page.locator("select[name=command]").select_option("set_transmitter_power")
    await page.locator("input[name=level_dbm]").fill("99")
    await page.get_by_role("button", name="Send set_transmitter_power").click()
    await expect(page.locator(".command-form .problem")).to_have_text("99 is above the maximum 40")
    await expect(page.locator(".sent")).to_have_count(0)  # nothing was sent

    await page.locator("select[name=command]").select_option("set_mode")
    await page.locator("select[name=mode]").select_option("safe")
    await page.get_by_role("button", name="Send set_mode").click()
    await expect(page.locator(".sent")).to_have_attribute("data-outcome", "completed")
    await expect(page.locator(".sent .step")).to_have_text(["accepted", "executing", "completed"])
    command_id = await page.locator('.feed li.confirmation[data-status="completed"]').get_attribute(
        "data-command-id"
    )
    mine = page.locator(f'.feed li.confirmation[data-command-id="{command_id}"]')
    await expect(mine).to_have_count(3)
    await expect(mine.first).to_contain_text("set_mode")


def _history_of(sensor: str) -> Any:
    def matches(response: Response) -> bool:
        return "/historical-data?" in response.url and f"ids={sensor}" in response.url and response.ok

    return matches


def _resume_ack(frames: list[tuple[str, str]], since: int) -> Any:
    """The ack of the one `subscribe` sent with `since` (Socket.IO packets `42<id>[...]`, `43<id>[...]`)."""
    resumes = [
        i
        for i, (way, packet) in enumerate(frames)
        if way == "sent" and '"subscribe"' in packet and f'"since":{since}' in packet
    ]
    assert len(resumes) == 1, frames
    ack_id = re.match(r"42(\d+)", frames[resumes[0]][1])
    assert ack_id is not None
    prefix = f"43{ack_id[1]}"
    ack = next(p for way, p in frames[resumes[0] :] if way == "received" and p.startswith(prefix + "["))
    return json.loads(ack.removeprefix(prefix))[0]


def _month_of(ids: tuple[str, ...], now: int) -> list[tuple[str, int, float]]:
    """30 days of points of `ids` up to `now` (µs), in time order: every 15 minutes from half an hour after
    the start of the 30 days, then every 2 seconds in the last hour."""
    sparse = range(now - 30 * DAY_US + 30 * MINUTE_US, now - HOUR_US, 15 * MINUTE_US)
    dense = range(now - HOUR_US, now, 2_000_000)
    return [
        (telemetry_id, at, round(100 * math.sin(at / (3 * HOUR_US) + n) + (at % 7), 3))
        for at in [*sparse, *dense]
        for n, telemetry_id in enumerate(ids)
    ]


class _Drawn:
    """A minmax answer and what the plot drew of it: its span (seconds since the epoch), the x of each
    vertex of the line, the plot's width, and how many points were appended live or dropped since."""

    def __init__(
        self, items: list[dict[str, Any]], state: dict[str, Any], asked: dict[str, list[str]]
    ) -> None:
        self.items = items
        self.start = _seconds(asked["start"][0])
        self.end = _seconds(asked["end"][0])
        self.xs: list[float] = state["xs"]
        self.width: int = state["width"]
        self.trimmed: int = state["trimmed"]


async def _drawn(page: Page, response: Response) -> _Drawn:
    """Check that the plot drew a minmax answer: a request for about one point per pixel, and a line with a
    vertex for each point of the answer (and each live value since, less those dropped on the left)."""
    assert response.ok, await response.text()
    asked = parse_qs(urlsplit(response.url).query)
    assert asked["strategy"] == ["minmax"] and asked["ids"] == [SENSORS[1]]
    items: list[dict[str, Any]] = (await response.json())["items"]
    await expect(page.locator(".history-status")).to_have_attribute("data-answered", str(len(items)))
    state = await _state(page)
    assert abs(int(asked["size"][0]) - state["box"]) <= 2, "about one point per pixel"
    assert len(state["xs"]) == state["points"] == len(items) + state["live"] - state["trimmed"]
    assert state["xs"] == sorted(state["xs"]) and all(0 <= x <= state["width"] for x in state["xs"])
    length = _seconds(state["end"]) - _seconds(state["start"])
    assert abs(length - (_seconds(asked["end"][0]) - _seconds(asked["start"][0]))) < 0.002
    return _Drawn(items, state, asked)


async def _zoom(page: Page, plot: Any, fraction: float) -> _Drawn:
    """Drag across the plot from `fraction` of its width before the right edge to past it; the answer to the
    request this makes, as drawn."""
    box = await plot.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    async with page.expect_response(_minmax_of(SENSORS[1])) as answer:
        await page.mouse.move(box["x"] + box["width"] * (1 - fraction), y)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] + 40, y, steps=5)
        await page.mouse.up()
    return await _drawn(page, await answer.value)


async def _state(page: Page) -> dict[str, Any]:
    """What the history plot shows, read at one moment: its attributes and the x of each vertex it drew."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
            const svg = document.querySelector('app-history-plot svg');
            const status = document.querySelector('.history-status').dataset;
            const line = svg.querySelector('polyline')?.getAttribute('points') ?? '';
            return {
                points: Number(svg.dataset.points), start: svg.dataset.start, end: svg.dataset.end,
                width: Number(svg.getAttribute('viewBox').split(' ')[2]),
                box: svg.getBoundingClientRect().width,
                xs: line.split(' ').filter(Boolean).map((xy) => Number(xy.split(',')[0])),
                answered: Number(status.answered), live: Number(status.live), trimmed: Number(status.trimmed),
            };
        }"""
    )
    return state


def _minmax_of(sensor: str) -> Any:
    """A predicate for the answer to a minmax request of `sensor`."""

    def matches(response: Response) -> bool:
        return "strategy=minmax" in response.url and f"ids={sensor}" in response.url

    return matches


def _seconds(timestamp: str) -> float:
    """An ISO 8601 time as seconds since the epoch."""
    return datetime.fromisoformat(timestamp).timestamp()
