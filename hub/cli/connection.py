"""The tool's two ways to the hub: HTTP requests (aiohttp) and a resuming Socket.IO connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import socketio

from hub.messages import MESSAGE_TYPES

HTTP_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 5.0

Message = dict[str, Any]
Params = Mapping[str, str] | Sequence[tuple[str, str]]


class CliError(Exception):
    """A problem the user can act on: printed as one line, never as a traceback. `status` is the exit code
    (1: the hub refused or failed; 2: the command line is wrong)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def check_url(url: str) -> str:
    """The hub's base URL without a trailing slash; CliError if it is not an http(s) URL."""
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise CliError(f"--url {url!r}: give the hub's address, such as http://127.0.0.1:8000", 2)
    return url.rstrip("/")


class HubHttp:
    """GET requests to the hub's HTTP API with the token as `Authorization: Bearer`; errors as CliError
    carrying the hub's own message."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = check_url(url)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HubHttp:
        self._session = aiohttp.ClientSession(
            headers=self._headers, timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, path: str, params: Params = ()) -> Any:
        """The JSON answer of GET `path`; CliError with the hub's message for any refusal."""
        assert self._session is not None, "use HubHttp in `async with`"
        try:
            async with self._session.get(self.url + path, params=params) as response:
                status, text = response.status, await response.text()
        except aiohttp.ClientConnectorError as error:
            raise CliError(
                f"cannot reach the hub at {self.url}: {error.os_error.strerror or error}"
            ) from None
        except aiohttp.InvalidURL:
            raise CliError(f"--url {self.url!r} is not a valid address", 2) from None
        except aiohttp.ClientError as error:
            raise CliError(
                f"the request to {self.url}{path} failed: {error or type(error).__name__}"
            ) from None
        except TimeoutError:
            raise CliError(f"the hub at {self.url} did not answer within {HTTP_TIMEOUT_S:g} s") from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if status >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            raise CliError(
                f"the hub answered {status} to {path}: {message or text[:300] or 'no reason given'}"
            )
        if body is None:
            raise CliError(f"{self.url}{path} did not answer JSON; is this a telemetry hub?")
        return body


class Stream:
    """A Socket.IO connection to the hub that resumes after a reconnection without a gap.

    Every (re)connection sends `auth: {token, since}`, `since` being the highest `seq` received so far, and
    is announced on `connections`: the caller then subscribes again, and the hub replays what was missed
    (docs/contract.md, "Resuming"). Messages go to `on_message` in the order they arrive.

    It reconnects by itself, with backoff, however the connection ended: python-socketio's client gives up
    when the server closes the connection, which is what a hub that stops or restarts cleanly does.
    """

    def __init__(self, url: str, token: str | None, on_message: Callable[[Message], None]) -> None:
        self.url = check_url(url)
        self.token = token
        self.on_message = on_message
        self.last_seq: int | None = None
        self.connected = False
        self.connections: asyncio.Queue[None] = asyncio.Queue()
        self.problem: str | None = None
        """Why the last connection attempt failed, in the hub's words where it gave them."""
        # handle_sigint=False: Ctrl-C is asyncio.run's (the library's handler would cancel every task)
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        for event in MESSAGE_TYPES:
            self.sio.on(event, self._received)
        self.sio.on("connect", self._connected)
        self.sio.on("disconnect", self._disconnected)
        self.sio.on("connect_error", self._refused)

    def auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {}
        if self.token:
            auth["token"] = self.token
        if self.last_seq is not None:
            auth["since"] = self.last_seq
        return auth

    def _received(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        seq = message.get("seq")
        if isinstance(seq, int) and (self.last_seq is None or seq > self.last_seq):
            self.last_seq = seq
        self.on_message(message)

    def _connected(self) -> None:
        self.connected = True
        self.problem = None
        self.connections.put_nowait(None)

    def _disconnected(self, reason: Any = None) -> None:
        self.connected = False
        self.problem = f"connection lost ({reason})" if reason else "connection lost"
        self._lost.set()

    def _refused(self, data: Any = None) -> None:
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            code = data.get("data", {}).get("code") if isinstance(data.get("data"), dict) else None
            self.problem = f"the hub refused the connection ({code or 'refused'}): {data['message']}"
        else:
            self.problem = f"cannot reach the hub at {self.url}: {data or 'no answer'}"

    async def connect(self) -> None:
        """Connect (websocket), or raise CliError saying why not; from then on, stay connected."""
        if not await self._open():
            raise CliError(self.problem or f"cannot reach the hub at {self.url}")
        self._keeper = asyncio.create_task(self._keep_connected())

    async def _open(self) -> bool:
        try:
            await self.sio.connect(
                self.url, auth=self.auth, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT_S
            )
        except (socketio.exceptions.ConnectionError, ValueError) as error:
            self.problem = self.problem or f"cannot reach the hub at {self.url}: {error}"
            return False
        return True

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            delay = RECONNECT_FIRST_S
            while not self.connected:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                self.problem = None
                await self._open()

    async def call(self, event: str, payload: Any, within: float = CONNECT_TIMEOUT_S) -> dict[str, Any]:
        """Emit `event` and return the hub's ack."""
        try:
            ack = await self.sio.call(event, payload, timeout=within)
        except socketio.exceptions.TimeoutError:
            raise CliError(f"the hub did not answer {event!r} within {within:g} s") from None
        except socketio.exceptions.BadNamespaceError:
            raise CliError(f"lost the connection to {self.url} before {event!r} was sent") from None
        if not isinstance(ack, dict):
            raise CliError(f"the hub answered {event!r} with {ack!r}, not an ack object")
        return ack

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self.sio.connected:
            await self.sio.disconnect()


def refusal(ack: Mapping[str, Any]) -> str:
    """An error ack as one line: `code: message` and its details."""
    error = ack.get("error")
    if not isinstance(error, dict):
        return f"unexpected answer: {json.dumps(ack)}"
    message = str(error.get("message", ""))
    line = f"{error.get('code', 'error')}: {message}"
    details = error.get("details")
    if not _said(details, message):
        line += f" {json.dumps(details, ensure_ascii=False)}"
    return line


def _said(details: Any, message: str) -> bool:
    """Whether everything in an error's `details` is already in its message (as in invalid_parameters)."""
    if isinstance(details, dict):
        return all(_said(value, message) for value in details.values())
    if isinstance(details, list):
        return all(_said(value, message) for value in details) if len(details) < 50 else False
    if isinstance(details, str):
        return details in message
    return details is None or str(details) in message
