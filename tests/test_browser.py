"""The Angular example client (clients/angular) in headless Chromium, against a real hub process.

The built app is served by a small static server; the hub runs as `python main.py` with the simulator and a
SQLite log, allowing the static server's origin. A screenshot of the dashboard is saved as a test artifact
(in test-artifacts/, or the folder HUB_TEST_ARTIFACTS names).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Response, WebSocket, async_playwright, expect

from tests.support import ROOT, free_port, main_process

ANGULAR = ROOT / "clients" / "angular"
DIST = ANGULAR / "dist" / "telemetry-dashboard" / "browser"
CHROMIUM = Path(os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("HUB_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SENSORS = ("battery_voltage", "attitude_yaw_deg")
_digits = re.compile(r"^\d+$")
_number = re.compile(r"^-?\d+(\.\d+)?$")

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
def screenshot() -> Path:
    """Where the test leaves its screenshot of the dashboard."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "dashboard.png"


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
    static_origin: str, screenshot: Path, tmp_path: Path
) -> None:
    """Subscribe to two sensors and see them change, send set_mode safe from the generated form and follow it
    to `completed` in the feed, reload (the sparklines come back filled from /historical-data), then restart
    the hub: the page resubscribes from the last seq it had, and shows nothing twice."""
    port = free_port()
    flags = ["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]
    env = {"HUB_CORS_ORIGINS": static_origin}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
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
        finally:
            await browser.close()


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
