"""The contract in contract/ is what the models say, and it describes what the hub really sends."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from hub import contract
from tests.conftest import RunningHub
from tests.support import ROOT, Client, is_, main_process

CONTRACT = ROOT / "contract"
NODE_TOOLS = CONTRACT / "node_modules" / ".bin"


def needs_node() -> None:
    """Skip the calling test unless node and the contract's node tools are installed."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the TypeScript part of the contract cannot be generated")
    if not NODE_TOOLS.exists():
        pytest.skip("contract/node_modules is missing: run scripts/setup --dev")


def test_the_committed_schema_and_asyncapi_are_current() -> None:
    """Fails when hub/messages.py changed and scripts/contract was not run."""
    assert (CONTRACT / "hub.schema.json").read_text() == contract._json(contract.json_schema())
    assert (CONTRACT / "asyncapi.json").read_text() == contract._json(contract.asyncapi())


def test_the_committed_typescript_is_current() -> None:
    """contract/hub.ts is what the current models generate: the committed client types are never stale."""
    needs_node()
    assert (CONTRACT / "hub.ts").read_text() == contract.typescript(contract.json_schema())


def test_the_typescript_types_fit_socket_io_clients_socket() -> None:
    """contract/check.ts uses the types as Socket<ServerToClientEvents, ClientToServerEvents> parameters
    and expects errors where the hub would refuse; tsc must accept it exactly."""
    needs_node()
    checked = subprocess.run(
        [str(NODE_TOOLS / "tsc"), "--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
         "--moduleResolution", "bundler", "check.ts"],
        cwd=CONTRACT, capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema validator of the contract's definition `name`."""
    schema = contract.json_schema()
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})


async def test_what_the_hub_sends_and_acks_matches_the_schema(tmp_path: Path) -> None:
    """Every kind of message and ack that a real hub sends validates against the generated JSON Schema."""
    async with main_process(["--history-url", f"sqlite:///{tmp_path / 'history.db'}"]) as hub:
        await _check_messages(hub.url)


async def _check_messages(url: str) -> None:
    client = await Client().connect(url)
    acks: dict[str, Any] = {
        "SubscribeAck": await client.call("subscribe", {"all": True}),
        "UnsubscribeAck": await client.call("unsubscribe", {"ids": ["battery_temp"]}),
        "ErrorAck": await client.call("subscribe", {"ids": ["no_such_id"]}),
    }
    command = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    acks["CommandAck"] = command
    await client.wait_for(is_("confirmation", command_id=command["command_id"]), count=3, within=10)
    await client.wait_for(is_("data"), count=5)
    for name, ack in acks.items():
        validator(name).validate(ack)
    models = {"data": "DataMessage", "confirmation": "Confirmation", "notification": "Notification"}
    kinds = set()
    for message in client.received:
        validator(models[message["type"]]).validate(message)
        kinds.add(message["type"])
    assert kinds >= {"data", "confirmation"}
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        validator("DataMessage").validate({**client.of("data")[0], "seq": "1"})
    await client.close()


def test_requests_the_hub_refuses_fail_the_schema_too() -> None:
    """Requests the hub refuses (a wrong type, an unknown field, a negative since) fail the schema too."""
    requests = validator("SubscriptionRequest")
    requests.validate({"ids": ["battery_voltage"], "since": 12})
    bad_requests: list[dict[str, Any]] = [
        {"ids": "battery_voltage"},
        {"idz": []},
        {"all": "true"},
        {"since": -1},
    ]
    for bad in bad_requests:
        with pytest.raises(jsonschema.ValidationError):
            requests.validate(bad)


async def test_the_hub_serves_its_asyncapi_document(running: RunningHub) -> None:
    """/asyncapi.json is the AsyncAPI 3.0 document of this host, and each of its $refs resolves within it."""
    async with httpx.AsyncClient(base_url=running.url) as http:
        answer = await http.get("/asyncapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document == json.loads(json.dumps(contract.asyncapi(host=running.url.removeprefix("http://"))))
    assert document["asyncapi"] == "3.0.0"
    hub_channel = document["channels"]["hub"]
    assert set(hub_channel["messages"]) >= {"data", "confirmation", "notification", "subscribe", "command"}
    assert document["operations"]["receive_command"]["reply"]["messages"][1] == {
        "$ref": "#/channels/hub/messages/error_ack"
    }
    for reference in _references(document):  # every $ref resolves inside the document
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []
