"""Logs: HUB_LOG_FORMAT=json makes every line on stderr one JSON object, the libraries' lines included; a
record is one line whatever a client sends; credentials in URLs never reach the log."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from hub.logging_setup import JsonFormatter, TextFormatter
from tests.support import ROOT, Client, HubProcess, main_process, raw_client

FIELDS = {"timestamp", "level", "logger", "message"}
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    """The log `lines` as JSON objects, each checked for the fields, a UTC timestamp and a known level."""
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, not only the hub's own
        assert isinstance(entry, dict) and set(entry) >= FIELDS, line
        assert entry["timestamp"].endswith("Z") and entry["level"] in LEVELS, line
        entries.append(entry)
    return entries


def exception_record(message: str, *args: object) -> logging.LogRecord:
    """A record of `message` % `args` with an exception whose message spans two lines."""
    try:
        raise OSError("disk I/O error\non two lines")
    except OSError:
        return logging.getLogger("hub.test").makeRecord(
            "hub.test", logging.ERROR, __file__, 1, message, args, sys.exc_info()
        )


async def test_json_logs_one_object_per_line_for_connections_commands_and_requests() -> None:
    """A hub run as `main.py` with HUB_LOG_FORMAT=json: start-up, an HTTP request, a client's connection, a
    command from acceptance to its terminal status, the disconnection and the shutdown, each one JSON line."""
    async with main_process(["--history-url", "memory://"], {"HUB_LOG_FORMAT": "json"}) as hub:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            assert (await http.get("/health")).status_code == 200
        client = await Client().connect(hub.url)
        sid = client.sio.get_sid()
        # the simulated spacecraft refuses science mode until its solar array is deployed
        ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "science"}})
        [ended] = await client.wait_for(
            lambda m: m["type"] == "confirmation" and m["status"] in {"completed", "failed", "timeout"},
            within=10,
        )
        await client.close()
        hub.process.send_signal(signal.SIGTERM)
        assert await hub.process.wait() == 0
    entries = parsed(hub.log)

    def found(logger: str, *words: str) -> dict[str, Any]:
        matching = [e for e in entries if e["logger"] == logger and all(w in e["message"] for w in words)]
        assert matching, (logger, words, entries)
        return matching[0]

    found("uvicorn.error", "Uvicorn running on")
    found("uvicorn.access", "GET /health")
    assert found("hub.transport.events", f"client {sid} ", "connected from")["level"] == "INFO"
    found("hub.transport.events", "command set_mode", "accepted as", ack["command_id"])
    terminal = found("hub.command_lifecycle", "command set_mode", ack["command_id"], ended["status"], "after")
    assert ended["message"] in terminal["message"]
    found("hub.transport.events", f"client {sid} disconnected")
    found("hub.app", "stopped")


def test_a_record_with_an_exception_stays_on_one_line() -> None:
    """The traceback goes into `exception`, escaped: a record is always exactly one line."""
    record = exception_record("writing %d records failed", 3)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "hub.test"
    assert entry["message"] == "writing 3 records failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("OSError: disk I/O error\non two lines")


def test_text_escapes_the_message_and_keeps_the_traceback_lines() -> None:
    """In text, a message's control characters are escaped; the traceback after it keeps its own lines."""
    line, *traceback = TextFormatter().format(exception_record("a\nb\r\tc\x1b[2J\u2028d")).split("\n")
    assert line.endswith(" ERROR   hub.test: a\\nb\\r\\tc\\x1b[2J\\u2028d")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-2:] == ["OSError: disk I/O error", "on two lines"]


async def stopped(hub: HubProcess) -> list[str]:
    """Every line the hub wrote, once it has stopped (SIGTERM) and its stderr has been read to the end."""
    hub.process.send_signal(signal.SIGTERM)
    assert await hub.process.wait() == 0
    return hub.log


async def test_a_command_name_with_a_newline_cannot_forge_a_text_log_line() -> None:
    """A command whose name holds a newline and a fake record is refused and logged as one escaped line."""
    forged = "2026-11-27T03:30:09 INFO    hub.core: command set_mode 1 completed after 0.1 s: 'forged'"
    async with main_process(["--history-url", "memory://"]) as hub:
        client = await Client().connect(hub.url)
        ack = await client.call("command", {"command": f"set_mode\n{forged}"})
        assert ack["error"]["code"] == "unknown_command"
        await client.close()
        await stopped(hub)
    assert not [line for line in hub.log if line.startswith(forged)], hub.log
    [refused] = [line for line in hub.log if "'forged'" in line]
    assert f"command set_mode\\n{forged} from " in refused and refused.endswith("refused: unknown_command\n")


async def test_json_logs_every_line_after_a_client_sent_bad_packets() -> None:
    """In json, every stderr line after clients sent bad events and packets is JSON, python-engineio's too."""
    async with main_process(["--history-url", "memory://"], {"HUB_LOG_FORMAT": "json"}) as hub:
        client = await Client().connect(hub.url)
        assert (await client.call("bogus", {}))["error"]["code"] == "unknown_event"
        ws = await raw_client(hub.url)
        await ws.send('42["command",')
        await ws.close()
        async with httpx.AsyncClient(base_url=hub.url) as http:
            response = await http.get(
                "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": "nope"}
            )
            assert response.status_code == 400
        await client.close()
        entries = parsed(await stopped(hub))
    assert [e for e in entries if e["logger"] == "engineio.server" and "Invalid session nope" in e["message"]]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_token_in_a_query_string_never_reaches_the_log(log_format: str) -> None:
    """Credentials in query strings (Engine.IO polling and websocket, HTTP) are logged as [redacted]."""
    secrets = ["SECRET-polling", "SECRET-websocket", "SECRET-history", "SECRET-access", "SECRET-key"]
    async with main_process(["--history-url", "memory://"], {"HUB_LOG_FORMAT": log_format}) as hub:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            polling = {"EIO": "4", "transport": "polling", "token": secrets[0]}
            assert (await http.get("/socket.io/", params=polling)).status_code == 200
            query = {"ids": "battery_voltage", "token": secrets[2], "access_token": secrets[3]}
            assert (await http.get("/historical-data", params=query)).status_code == 200
            assert (await http.get("/health", params={"api_key": secrets[4]})).status_code == 200
        client = await Client().connect(f"{hub.url}?token={secrets[1]}")
        await client.close()
        log = "".join(await stopped(hub))
    assert not [secret for secret in secrets if secret in log], log
    assert log.count("token=[redacted]") >= 3 and "api_key=[redacted]" in log
    assert "/socket.io/?EIO=4&transport=polling&token=[redacted]" in log


def test_warnings_and_uncaught_exceptions_are_json_lines() -> None:
    """Python's warnings and an uncaught exception, which Python writes to stderr itself, are JSON lines."""
    code = (
        "import warnings; from hub.logging_setup import configure; configure('info', 'json'); "
        "warnings.warn('deprecated\\nsoon'); raise RuntimeError('boom')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    [warning, uncaught] = parsed(result.stderr.splitlines())
    assert warning["logger"] == "py.warnings" and "UserWarning: deprecated\nsoon" in warning["message"]
    assert uncaught["level"] == "CRITICAL" and uncaught["exception"].endswith("RuntimeError: boom")
