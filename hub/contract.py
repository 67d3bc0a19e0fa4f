"""The Socket.IO contract as documents, generated from the pydantic models in hub/messages.py.

- `hub.schema.json`: JSON Schema (2020-12) of every message, request and ack;
- `asyncapi.json`: AsyncAPI 3 description of the Socket.IO events (also served at `GET /asyncapi.json`);
- `hub.ts`: TypeScript interfaces of the same, plus `ServerToClientEvents` and `ClientToServerEvents` maps
  for socket.io-client's `Socket<ListenEvents, EmitEvents>` (compiled from the JSON Schema by
  json-schema-to-typescript, so this one needs Node).

`python -m hub.contract contract/` (what `scripts/contract` runs) writes all three; tests/test_contract.py
fails when the committed ones are stale.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.messages import (
    CommandAck,
    CommandRequest,
    Confirmation,
    ConnectAuth,
    DataMessage,
    ErrorAck,
    Notification,
    SubscribeAck,
    SubscriptionRequest,
    UnsubscribeAck,
)

SERVER_EVENTS: dict[str, type[BaseModel]] = {
    "data": DataMessage,
    "confirmation": Confirmation,
    "notification": Notification,
}
"""Events the hub sends, each with one argument."""

CLIENT_EVENTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "subscribe": (SubscriptionRequest, SubscribeAck),
    "unsubscribe": (SubscriptionRequest, UnsubscribeAck),
    "command": (CommandRequest, CommandAck),
}
"""Events a client sends, each with one argument and an ack: this success ack, or an ErrorAck."""

GENERATOR = Path(__file__).resolve().parent.parent / "contract" / "json2ts.mjs"

_SENT: list[type[BaseModel]] = [
    *SERVER_EVENTS.values(),
    *(ack for _, ack in CLIENT_EVENTS.values()),
    ErrorAck,
]
_RECEIVED: list[type[BaseModel]] = [ConnectAuth, *{request for request, _ in CLIENT_EVENTS.values()}]


def json_schema() -> dict[str, Any]:
    """One JSON Schema document whose `$defs` hold every model; the root lists them, so that generators
    emit them all."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "serialization") for m in _SENT]
    models += [(m, "validation") for m in _RECEIVED]
    _, document = models_json_schema(models, ref_template="#/$defs/{model}")
    definitions = dict(sorted(document["$defs"].items()))
    sent = {m.__name__ for m in _SENT}
    for name, definition in definitions.items():
        properties = definition.get("properties", {})
        for field in properties.values():
            field.pop("title", None)  # "Seq", "Ok": noise, and a type alias each in TypeScript
        if name in sent:  # the hub always sends a field whose default is a value (type, ok, status)
            always = [k for k, field in properties.items() if field.get("default") is not None]
            definition["required"] = sorted(
                {*definition.get("required", []), *always}, key=list(properties).index
            )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "hub.schema.json",
        "title": "HubContract",
        "description": "Every Socket.IO message, request and ack of the telemetry hub (namespace /).",
        "type": "object",
        "properties": {name: {"$ref": f"#/$defs/{name}"} for name in definitions},
        "additionalProperties": False,
        "$defs": definitions,
    }


def asyncapi(host: str = "127.0.0.1:8000") -> dict[str, Any]:
    """The AsyncAPI 3 document of the hub's Socket.IO events, from the hub's side: it sends `data`,
    `confirmation` and `notification`, and receives `subscribe`, `unsubscribe` and `command`, each answered
    by an ack (Socket.IO's acknowledgement callback, described as the operation's reply)."""
    schemas = _as_components(json_schema()["$defs"])
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event, model in SERVER_EVENTS.items():
        messages[event] = _message(event, model)
        operations[f"send_{event}"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/hub"},
            "summary": _first_line(model),
            "messages": [{"$ref": f"#/channels/hub/messages/{event}"}],
        }
    messages["error_ack"] = _message("error_ack", ErrorAck, "The ack of any client event that failed.")
    for event, (request, ack) in CLIENT_EVENTS.items():
        messages[event] = _message(event, request)
        messages[f"{event}_ack"] = _message(f"{event}_ack", ack, f"The ack of a successful {event}.")
        operations[f"receive_{event}"] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/hub"},
            "summary": _first_line(request),
            "messages": [{"$ref": f"#/channels/hub/messages/{event}"}],
            "reply": {
                "channel": {"$ref": "#/channels/hub"},
                "messages": [
                    {"$ref": f"#/channels/hub/messages/{event}_ack"},
                    {"$ref": "#/channels/hub/messages/error_ack"},
                ],
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Telemetry hub",
            "version": "0.1.0",
            "description": (
                "Socket.IO 4 on path /socket.io, namespace /. Each event carries one JSON object; each "
                "client event gets an ack (Socket.IO acknowledgement callback): the success ack or "
                "ErrorAck. Connect with auth ConnectAuth; a refusal is a connect_error whose data has a "
                "code. Every server message has a seq, strictly increasing; see the README."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "hub": {
                "host": host,
                "protocol": "ws",
                "pathname": "/socket.io/",
                "description": "Socket.IO (Engine.IO 4) over websocket, or HTTP long-polling then upgrade.",
            }
        },
        "channels": {"hub": {"address": "/", "title": "Socket.IO namespace /", "messages": messages}},
        "operations": operations,
        "components": {"schemas": schemas},
    }


def typescript(schema: dict[str, Any]) -> str:
    """TypeScript for `schema` (json-schema-to-typescript under Node), then the event maps."""
    compiled = subprocess.run(
        ["node", str(GENERATOR)],
        input=json.dumps(schema),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = ["", "/** Events the hub sends: `Socket<ServerToClientEvents, ClientToServerEvents>`. */"]
    lines.append("export interface ServerToClientEvents {")
    lines += [f"  {event}: (message: {model.__name__}) => void;" for event, model in SERVER_EVENTS.items()]
    lines += ["}", "", "/** Events a client sends; every one is acknowledged. */"]
    lines.append("export interface ClientToServerEvents {")
    for event, (request, ack) in CLIENT_EVENTS.items():
        answer = f"(ack: {ack.__name__} | ErrorAck) => void"
        lines.append(f"  {event}: (request: {request.__name__}, callback: {answer}) => void;")
    lines.append("}")
    return compiled + "\n".join(lines) + "\n"


def documents() -> dict[str, str]:
    """File name -> content, exactly as committed under contract/."""
    schema = json_schema()
    return {
        "hub.schema.json": _json(schema),
        "asyncapi.json": _json(asyncapi()),
        "hub.ts": typescript(schema),
    }


def _message(name: str, model: type[BaseModel], summary: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "title": model.__name__,
        "summary": summary or _first_line(model),
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }


def _first_line(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def _as_components(definitions: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(definitions).replace('"#/$defs/', '"#/components/schemas/')
    result: dict[str, Any] = json.loads(text)
    return result


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "contract")
    for name, text in documents().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
