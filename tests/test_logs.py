"""Logs: HUB_LOG_FORMAT=json makes every line on stderr one JSON object, uvicorn's lines included."""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import Any

import httpx

from hub.logs import JsonFormatter
from tests.support import Client, main_process

FIELDS = {"timestamp", "level", "logger", "message"}


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, not only the hub's own
        assert isinstance(entry, dict) and set(entry) >= FIELDS, line
        assert entry["timestamp"].endswith("Z") and entry["level"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
        entries.append(entry)
    return entries


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
    assert found("hub.server", f"client {sid} ", "connected from")["level"] == "INFO"
    found("hub.server", "command set_mode", "accepted as", ack["command_id"])
    terminal = found("hub.core", "command set_mode", ack["command_id"], ended["status"], "after")
    assert ended["message"] in terminal["message"]
    found("hub.server", f"client {sid} disconnected")
    found("hub.app", "stopped")


def test_a_record_with_an_exception_stays_on_one_line() -> None:
    """The traceback goes into `exception`, escaped: a record is always exactly one line."""
    logger = logging.getLogger("hub.test")
    try:
        raise OSError("disk I/O error\non two lines")
    except OSError:
        record = logger.makeRecord("hub.test", logging.ERROR, __file__, 1, "writing %d records failed", (3,),
                                   sys.exc_info())  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "hub.test"
    assert entry["message"] == "writing 3 records failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("OSError: disk I/O error\non two lines")
