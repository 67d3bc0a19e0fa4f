"""The Socket.IO Admin UI, served by the hub itself at /admin-ui/ (with HUB_ADMIN_UI=true).

The UI is the built single-page application of the `@socket.io/admin-ui` npm package (its `ui/dist`),
installed with `npm ci --prefix clients/admin-ui`, or wherever HUB_ADMIN_UI_DIR says. Its assets are
referred to by relative paths, so they load from under /admin-ui/, and it routes with the URL's fragment, so
no other path is needed. Its index.html loads its typeface and icon font from other sites: the page served
here points those links at the copies installed beside it (`@fontsource/roboto`, `@mdi/font`), so the UI
needs nothing but the hub.

The page connects to the hub's `/admin` namespace from the hub's own origin, which the Socket.IO server
checks against HUB_CORS_ORIGINS like any other: that origin must be listed (docs/security.md, "Socket.IO
Admin UI").
Without HUB_ADMIN_UI, or before the package is installed, /admin-ui/ answers with what to do instead.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from hub.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/admin-ui"
INSTALL = "npm ci --prefix clients/admin-ui"
PACKAGES = Path("node_modules")
UI = PACKAGES / "@socket.io" / "admin-ui" / "ui" / "dist"
ICONS = PACKAGES / "@mdi" / "font"
TYPEFACE = PACKAGES / "@fontsource" / "roboto"
LOCAL = "local"
"""Where under /admin-ui/ the icon font and the typeface are served (`local/icons/`, `local/typeface/`)."""

_STYLESHEET = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)">')
_WEIGHTS = re.compile(r"Roboto:([0-9,]+)")


def mount_admin_ui(app: FastAPI, settings: Settings) -> None:
    """Serve the Admin UI at /admin-ui/ on `app` (or, when it cannot be used, a page saying why)."""
    app.mount(PREFIX, AdminUI(settings), name="admin-ui")


class AdminUI:
    """The ASGI app mounted at /admin-ui. It looks for the installed UI on each request until it finds it,
    so `npm ci` works without a restart."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.admin_ui
        self.root = settings.admin_ui_dir
        self.origins = set(settings.cors_origins)
        self._router: Router | None = None
        self._warned: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if not self.enabled:
            answer = unavailable(
                Request(scope),
                404,
                "The Socket.IO Admin UI is off. Start the hub with HUB_ADMIN_UI=true and an admin token "
                "(HUB_ADMIN_TOKEN, or a token with the admin role).",
            )
            await answer(scope, receive, send)
            return
        router = self._router or self._load()
        if router is None:
            answer = unavailable(
                Request(scope),
                503,
                f"The Socket.IO Admin UI is not installed in {self.root}. Install it with `{INSTALL}` in "
                "the hub's directory (it needs npm), or set HUB_ADMIN_UI_DIR to where it is installed.",
            )
            await answer(scope, receive, send)
            return
        await router(scope, receive, send)

    def _load(self) -> Router | None:
        dist = self.root / UI
        if not (dist / "index.html").is_file():
            return None
        icons, typeface = self.root / ICONS, self.root / TYPEFACE
        page = localized((dist / "index.html").read_text(encoding="utf-8"), icons.is_dir(), typeface.is_dir())

        async def index(request: Request) -> Response:
            self._check_origin(request)
            return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

        routes: list[Route | Mount] = [Route("/", index), Route("/index.html", index)]
        if icons.is_dir():
            routes.append(Mount(f"/{LOCAL}/icons", StaticFiles(directory=icons)))
        if typeface.is_dir():
            routes.append(Mount(f"/{LOCAL}/typeface", StaticFiles(directory=typeface)))
        routes.append(Mount("/", StaticFiles(directory=dist)))
        self._router = Router(routes)
        log.info("serving the Socket.IO Admin UI from %s at %s/", dist, PREFIX)
        return self._router

    def _check_origin(self, request: Request) -> None:
        """Warn, once per origin, when the page is loaded from an origin whose connections will be refused."""
        origin = f"{request.url.scheme}://{request.url.netloc}"
        if origin in self.origins or "*" in self.origins or origin in self._warned:
            return
        self._warned.add(origin)
        log.warning(
            "the Admin UI was loaded from %s, which HUB_CORS_ORIGINS does not list: its connection to /admin "
            "will be refused until it is added",
            origin,
        )


def localized(page: str, icons: bool, typeface: bool) -> str:
    """index.html with its icon font and typeface links pointing at the local copies that exist."""

    def local(link: re.Match[str]) -> str:
        href = link.group(1)
        if icons and "materialdesignicons" in href:
            return f'<link rel="stylesheet" href="{LOCAL}/icons/css/materialdesignicons.min.css">'
        weights = _WEIGHTS.search(href)
        if typeface and weights is not None:
            return "".join(
                f'<link rel="stylesheet" href="{LOCAL}/typeface/{weight}.css">'
                for weight in weights.group(1).split(",")
                if weight
            )
        return link.group(0)

    return _STYLESHEET.sub(local, page)


def unavailable(request: Request, status: int, message: str) -> Response:
    """`message` as a small page for a browser, as the hub's usual JSON otherwise."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"message": message}, status_code=status)
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Socket.IO Admin UI</title></head>'
        f"<body><h1>Socket.IO Admin UI</h1><p>{text}</p>"
        "<p>See the hub's docs/security.md, “Socket.IO Admin UI”.</p>"
        "</body></html>"
    )
    return HTMLResponse(page, status_code=status)
