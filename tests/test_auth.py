"""Who may do what: tokens with roles over Socket.IO and HTTP, the open hub's limits, command rate limits."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from hub.app import create_app
from hub.auth import Authenticator, TokenSources, hash_token, load_tokens
from hub.errors import ConfigurationError
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import ROOT, Client, free_port, serve

TOKENS = {"viewer": "viewer-token-abcdefghijklmnop", "operator": "operator-token-abcdefghijklmn",
          "admin": "admin-token-abcdefghijklmnopq"}  # fmt: skip


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    """A tokens file with one console of each role in TOKENS, by the SHA-256 of its token."""
    file = tmp_path / "tokens.yaml"
    lines = [
        f"  - {{name: {role}-console, role: {role}, sha256: {hash_token(token)}}}"
        for role, token in TOKENS.items()
    ]
    file.write_text("tokens:\n" + "\n".join(lines) + "\n")
    return file


@pytest.fixture
async def secured(source: FakeSource, tokens_file: Path) -> AsyncIterator[str]:
    """A hub that needs tokens, with the fake source; yields its URL."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", tokens_file=tokens_file,
                        command_burst=2, command_rate=0.5)  # fmt: skip
    source.auto["set_mode"] = ("completed", "ok")
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        await source.started.wait()
        yield url


async def refused(url: str, auth: Any) -> list[Any]:
    """The connect errors a client gets from a hub that refuses it with `auth`."""
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth=auth)
    await client.close()
    return client.connect_errors


async def test_connecting_needs_a_valid_token(secured: str) -> None:
    """No token or an unknown one is refused with connect_error code unauthorized."""
    assert await refused(secured, None) == [
        {
            "message": "this hub needs a token: connect with auth: {token: ...}",
            "data": {"code": "unauthorized"},
        }
    ]
    [error] = await refused(secured, {"token": "guess"})
    assert error["data"] == {"code": "unauthorized"} and "not valid" in error["message"]
    [error] = await refused(secured, {"token": 42})
    assert error["data"] == {"code": "bad_request"}


async def test_a_viewer_subscribes_but_may_not_command(secured: str) -> None:
    """A viewer streams telemetry; its command is refused with forbidden and never reaches the source."""
    viewer = await Client().connect(secured, auth={"token": TOKENS["viewer"]})
    assert (await viewer.call("subscribe", {"ids": ["voltage"]}))["ok"] is True
    ack = await viewer.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    assert (
        ack["ok"] is False
        and ack["error"]["code"] == "forbidden"
        and "operator role" in ack["error"]["message"]
    )
    await viewer.close()


async def test_operators_are_rate_limited(secured: str, source: FakeSource) -> None:
    """Past the burst a command gets rate_limited with the time to wait; nothing extra reaches the source."""
    operator = await Client().connect(secured, auth={"token": TOKENS["operator"]})
    command = {"command": "set_mode", "parameters": {"mode": "safe"}}
    acks = [await operator.call("command", command) for _ in range(3)]
    assert [a["ok"] for a in acks] == [True, True, False]
    assert (
        acks[2]["error"]["code"] == "rate_limited" and 0 < acks[2]["error"]["details"]["retry_after_s"] <= 2
    )
    assert len(source.commands) == 2
    await operator.close()


async def test_http_needs_a_token_with_the_right_role(secured: str) -> None:
    """Reading needs a viewer token (401 without), clearing an admin one (403 for lower roles)."""
    async with httpx.AsyncClient(base_url=secured) as http:
        assert (await http.get("/health")).status_code == 200  # for load balancers: no token
        assert (await http.get("/historical-data")).status_code == 401
        wrong = await http.get("/telemetry-types", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"

        def bearer(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {TOKENS[role]}"}

        assert (await http.get("/historical-data", headers=bearer("viewer"))).status_code == 200
        assert (await http.get("/command-templates", headers=bearer("viewer"))).status_code == 200
        forbidden = await http.delete("/historical-data", headers=bearer("operator"))
        assert forbidden.status_code == 403 and "admin role" in forbidden.json()["message"]
        assert (await http.delete("/historical-data", headers=bearer("admin"))).status_code == 200


async def test_secrets_are_never_logged(secured: str, caplog: pytest.LogCaptureFixture) -> None:
    """Tokens appear in no log line, whether accepted or refused."""
    caplog.set_level(logging.DEBUG)
    operator = await Client().connect(secured, auth={"token": TOKENS["operator"]})
    await operator.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    await operator.close()
    await refused(secured, {"token": "a-secret-that-is-wrong"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "operator-console" in text  # the token's name is logged, the token is not
    assert TOKENS["operator"] not in text and "a-secret-that-is-wrong" not in text


async def test_an_open_hub_lets_anyone_command(running: RunningHub) -> None:
    """With no tokens configured anyone connects as an operator."""
    client = await running.client()
    running.source.auto["set_mode"] = ("completed", "ok")
    assert (await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}}))[
        "ok"
    ] is True


def test_tokens_come_from_a_file_and_the_environment(tokens_file: Path) -> None:
    """Entries from the file and from role:sha256 pairs; each token is known by its role."""
    extra = hash_token("from-the-environment-123456")
    auth = Authenticator(TokenSources(tokens_file, f"viewer:{extra}"), admin_token=None)
    assert auth.identify("from-the-environment-123456") is not None
    assert [auth.identify(TOKENS[role]).role for role in TOKENS] == list(TOKENS)  # type: ignore[union-attr]
    assert auth.identify("unknown") is None and not auth.open


@pytest.mark.parametrize(
    ("content", "listed", "message"),
    [
        ("tokens:\n  - {name: x, role: god, sha256: " + "a" * 64 + "}", None, "tokens.0.role"),
        ("tokens:\n  - {name: x, role: viewer, sha256: secret}", None, "tokens.0.sha256"),
        ("tokens: [", None, "not valid YAML"),
        (None, "viewer:plaintext", "HUB_TOKENS entry 0"),
    ],
)
def test_bad_token_configuration_is_named(
    tmp_path: Path, content: str | None, listed: str | None, message: str
) -> None:
    """A bad tokens file or list stops start-up with a message naming where the problem is."""
    file = None
    if content is not None:
        file = tmp_path / "tokens.yaml"
        file.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        load_tokens(file, listed)


def test_new_token_command_prints_a_usable_entry(tmp_path: Path) -> None:
    """python -m hub.auth new prints a token and the entry that makes it valid."""
    result = subprocess.run([sys.executable, "-m", "hub.auth", "new", "operator", "wall-screen"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    token = result.stdout.split("): ")[1].split()[0]
    entry = result.stdout.split("tokens file entry:\n")[1]
    (tmp_path / "t.yaml").write_text("tokens:\n" + entry)
    principal = Authenticator(TokenSources(tmp_path / "t.yaml")).identify(token)
    assert principal is not None and (principal.name, principal.role) == ("wall-screen", "operator")


def test_an_open_hub_listens_only_on_loopback() -> None:
    """Without role tokens, a non-loopback host is refused unless anonymous access is allowed explicitly."""

    def authenticator(**settings: Any) -> Authenticator:
        return Authenticator(TokenSources.of(Settings(**settings)), settings.get("admin_token"))

    with pytest.raises(ConfigurationError, match=r"no tokens are set .*HUB_HOST=0\.0\.0\.0 is reachable"):
        authenticator(host="0.0.0.0")
    with pytest.raises(ConfigurationError, match="HUB_ADMIN_TOKEN alone does not count"):
        authenticator(host="0.0.0.0", admin_token=TOKENS["admin"])
    assert authenticator(host="0.0.0.0", allow_anonymous=True).open
    assert not authenticator(host="0.0.0.0", tokens="viewer:" + "a" * 64).open
    assert all(authenticator(host=host).open for host in ("127.0.0.1", "::1", "localhost"))


@pytest.mark.parametrize(
    ("content", "env", "problem"),
    [
        ("tokens: []\n", {}, "HUB_TOKENS_FILE='{file}': tokens: the list is empty"),
        (None, {"HUB_TOKENS": ","}, "HUB_TOKENS=',': no token in it"),
        (None, {"HUB_ADMIN_TOKEN": TOKENS["admin"]}, "no tokens are set (HUB_TOKENS_FILE, HUB_TOKENS) "
         "(HUB_ADMIN_TOKEN alone does not count"),
    ],
    ids=["empty-file", "only-commas", "admin-token-alone"],
)  # fmt: skip
def test_no_role_token_in_effect_stops_start_up_on_a_reachable_host(
    tmp_path: Path, content: str | None, env: dict[str, str], problem: str
) -> None:
    """An empty tokens list counts as none: main.py on 0.0.0.0 exits with 2, naming the file and field."""
    file = tmp_path / "tokens.yaml"
    flags = ["--host", "0.0.0.0", "--port", str(free_port()), "--history-url", "memory://"]
    if content is not None:
        file.write_text(content)
        flags += ["--tokens-file", str(file)]
    result = subprocess.run([sys.executable, "main.py", *flags], cwd=ROOT, env=os.environ | env,
                            capture_output=True, text=True, timeout=20)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert problem.format(file=file) in result.stderr and "Traceback" not in result.stderr
    assert "HUB_HOST=0.0.0.0 is reachable from other machines" in result.stderr
