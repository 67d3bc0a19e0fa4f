"""The Socket.IO Admin UI served at /admin-ui/, and what it sees on the /admin namespace.

The hubs with HUB_ADMIN_UI on run as processes of their own (main.py): python-socketio's instrumentation
patches python-engineio's socket class for the whole process, and tests/test_abuse.py already instruments
an app in this one.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
import socketio

from hub.web.admin_ui import INSTALL, UI, localized
from tests.conftest import ADMIN_TOKEN, RunningHub
from tests.support import ROOT, Client, HubProcess, free_port, main_process

INSTALLED = ROOT / "clients" / "admin-ui"
CONTENT_TYPES = {
    ".css": "text/css",
    ".js": "javascript",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}
Event = tuple[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def installed() -> None:
    """The pinned UI, installed as docs/security.md says if the test command has not already (needs npm)."""
    if (INSTALLED / UI / "index.html").is_file():
        return
    if shutil.which("npm") is None:
        pytest.skip(f"the Admin UI is not installed and npm is missing: {INSTALL}")
    subprocess.run([*INSTALL.split(), "--no-audit", "--no-fund"], cwd=ROOT, check=True, timeout=300)


@asynccontextmanager
async def admin_ui_hub(mode: str, directory: Path | None = None) -> AsyncIterator[HubProcess]:
    """main.py with the Admin UI on, in `mode`, its own origin allowed (as docs/security.md says to do)."""
    port = free_port()
    env = {
        "HUB_ADMIN_UI": "true",
        "HUB_ADMIN_UI_MODE": mode,
        "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "HUB_CORS_ORIGINS": f"http://localhost:4200,http://127.0.0.1:{port}",
    }
    if directory is not None:
        env["HUB_ADMIN_UI_DIR"] = str(directory)
    async with main_process(["--history-url", "memory://"], env, port) as hub:
        yield hub


class Admin:
    """A client of the /admin namespace, as the Admin UI is, recording every event it gets."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self.sio.on("*", self._record, namespace="/admin")

    async def _record(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append((event, args))
            self._changed.notify_all()

    async def connect(self, url: str, password: str, origin: str | None = None) -> bool:
        try:
            await self.sio.connect(
                url,
                namespaces=["/admin"],
                auth={"username": "ops", "password": password},
                headers={"Origin": origin} if origin else {},
                transports=["websocket"],
            )
        except socketio.exceptions.ConnectionError:
            await self.sio.disconnect()  # closes its HTTP session
            return False
        return True

    async def wait_for(self, found: Callable[[Event], bool], within: float = 10) -> Event:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: any(map(found, self.events))), within)
            return next(e for e in self.events if found(e))

    async def close(self) -> None:
        await self.sio.disconnect()


async def test_the_hub_serves_the_installed_ui_and_its_assets(installed: None) -> None:
    """The installed UI and each asset and font it links to are served with their types; nothing else is."""
    async with admin_ui_hub("production") as hub, httpx.AsyncClient(base_url=hub.url) as http:
        bare = await http.get("/admin-ui")
        assert bare.status_code == 307 and bare.headers["location"].endswith("/admin-ui/")
        index = await http.get("/admin-ui/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert '<div id="app">' in index.text and (await http.get("/admin-ui/index.html")).text == index.text
        references = re.findall(r'(?:href|src)="([^"]+)"', index.text)
        assert references and not [r for r in references if "://" in r or r.startswith("/")]
        stylesheets = []
        for reference in references:
            url = urljoin(f"{hub.url}/admin-ui/", reference)
            response = await http.get(url)
            assert response.status_code == 200, url
            expected = CONTENT_TYPES[Path(reference).suffix]
            assert expected in response.headers["content-type"], (url, response.headers["content-type"])
            if reference.endswith(".css"):
                stylesheets.append((url, response.text))
        fonts = [
            urljoin(url, font.split("?")[0])
            for url, text in stylesheets
            for font in re.findall(r"url\(\"?([^\")]+\.woff2[^\")]*)", text)
        ]
        assert any("materialdesignicons" in f for f in fonts) and any("roboto" in f for f in fonts)
        for font in {f for f in fonts if "latin-400-normal" in f or "materialdesignicons" in f}:
            response = await http.get(font)
            assert (response.status_code, response.headers["content-type"]) == (200, "font/woff2"), font
        assert (await http.get("/admin-ui/no-such-file.js")).status_code == 404
        assert (await http.get("/admin-ui/../main.py")).status_code == 404


async def test_admin_sees_the_sockets_and_rooms_in_development_mode(installed: None) -> None:
    """Wrong credentials are refused; an admin token (any user name) sees each client's sid and rooms."""
    async with admin_ui_hub("development") as hub:
        client = await Client().connect(hub.url)
        admin = Admin()
        try:
            assert (await client.call("subscribe", {"ids": ["battery_voltage"]}))["ok"] is True
            sid = client.sio.get_sid("/")
            assert await Admin().connect(hub.url, "not-the-admin-token", hub.url) is False
            assert await Admin().connect(hub.url, ADMIN_TOKEN, "http://elsewhere.example") is False
            assert any("http://elsewhere.example is not an accepted origin" in line for line in hub.log)
            assert await admin.connect(hub.url, ADMIN_TOKEN, origin=hub.url) is True  # the UI's origin

            _, (sockets,) = await admin.wait_for(lambda e: e[0] == "all_sockets")
            mine = next(s for s in sockets if s["id"] == sid)
            assert mine["nsp"] == "/" and "telemetry:battery_voltage" in mine["rooms"]
            _, (config,) = await admin.wait_for(lambda e: e[0] == "config")
            assert set(config["supportedFeatures"]) == {"AGGREGATED_EVENTS", "ALL_EVENTS"}  # read-only

            assert (await client.call("subscribe", {"ids": ["battery_temp"]}))["ok"] is True
            joined = await admin.wait_for(
                lambda e: e[0] == "room_joined" and e[1][1] == "telemetry:battery_temp"
            )
            assert joined[1][:3] == ("/", "telemetry:battery_temp", sid)
        finally:
            await admin.close()
            await client.close()


async def test_production_mode_shows_figures_and_a_missing_ui_says_how_to_install_it(
    tmp_path: Path,
) -> None:
    """The default mode sends server figures only (no socket list); with HUB_ADMIN_UI_DIR at an empty
    directory /admin-ui/ answers 503 with the install command, as JSON or, for a browser, as a page."""
    async with admin_ui_hub("production", tmp_path) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        missing = await http.get("/admin-ui/")
        assert missing.status_code == 503 and INSTALL in missing.json()["message"]
        page = await http.get("/admin-ui/", headers={"Accept": "text/html,*/*"})
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert f"<code>{INSTALL}</code>" in page.text
        assert (await http.get("/health")).status_code == 200

        client = await Client().connect(hub.url)
        admin = Admin()
        try:
            assert await admin.connect(hub.url, ADMIN_TOKEN) is True
            _, (config,) = await admin.wait_for(lambda e: e[0] == "config")
            assert config["supportedFeatures"] == ["AGGREGATED_EVENTS"]
            _, (stats,) = await admin.wait_for(lambda e: e[0] == "server_stats")  # every 2 s
            assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
            assert not [e for e in admin.events if e[0] == "all_sockets"]
        finally:
            await admin.close()
            await client.close()


async def test_the_ui_page_is_off_without_hub_admin_ui(running: RunningHub) -> None:
    """Without HUB_ADMIN_UI the UI's paths answer 404, and the message says how to turn it on."""
    async with httpx.AsyncClient(base_url=running.url) as http:
        off = await http.get("/admin-ui/")
        assert off.status_code == 404 and "HUB_ADMIN_UI=true" in off.json()["message"]
        assert (await http.get("/admin-ui/js/app.js")).status_code == 404


def test_the_page_loads_its_fonts_from_the_hub_when_they_are_installed() -> None:
    """Links to font CDNs become links to the hub's copies when those are installed, else stay as they are."""
    page = (
        '<head><link rel="stylesheet" href="https://fonts.example/css?family=Roboto:100,400">'
        '<link rel="stylesheet" href="https://cdn.example/npm/@mdi/font@latest/css/materialdesignicons.min.css">'
        '<link href="css/app.css" rel="stylesheet"></head>'
    )
    assert localized(page, icons=True, typeface=True) == (
        '<head><link rel="stylesheet" href="local/typeface/100.css">'
        '<link rel="stylesheet" href="local/typeface/400.css">'
        '<link rel="stylesheet" href="local/icons/css/materialdesignicons.min.css">'
        '<link href="css/app.css" rel="stylesheet"></head>'
    )
    assert localized(page, icons=False, typeface=False) == page
