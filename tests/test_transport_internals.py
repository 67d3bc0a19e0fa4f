"""The library internals hub/transport/ relies on (listed in hub/transport/__init__.py): re-check them all
before changing a pin. The tests of each module check the behaviour they give; these check they are there."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
import socketio
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

PINS = {"python-socketio": "5.18.1", "python-engineio": "4.15.1", "uvicorn": "0.54.0", "websockets": "17.4"}


@pytest.mark.parametrize(("package", "version"), sorted(PINS.items()))
def test_the_pinned_versions_are_the_ones_checked(package: str, version: str) -> None:
    """The transport was written against these versions of the libraries whose internals it uses."""
    assert importlib.metadata.version(package) == version


def test_the_engineio_socket_internals_lean_socket_uses_are_there() -> None:
    """What LeanSocket overrides and reads of python-engineio's AsyncSocket."""
    for name in ("receive", "close", "handle_get_request"):
        assert inspect.iscoroutinefunction(getattr(AsyncSocket, name)), name
    assert callable(AsyncSocket._websocket_handler)  # (the Admin UI's instrumentation replaces it in place)
    assert callable(AsyncSocket.schedule_ping) and not inspect.iscoroutinefunction(AsyncSocket.schedule_ping)
    assert list(inspect.signature(AsyncSocket.close).parameters) == ["self", "wait", "abort", "reason"]
    socket = AsyncSocket(socketio.AsyncServer(async_mode="asgi").eio, "sid")
    for attribute in ("queue", "last_ping", "connected", "upgrading", "upgraded", "closing", "closed"):
        assert hasattr(socket, attribute), attribute


def test_the_socketio_server_internals_hub_socketio_server_uses_are_there() -> None:
    """What HubSocketIOServer overrides and calls of python-socketio's AsyncServer and Packet."""
    for name in (
        "_handle_eio_connect", "_handle_eio_message", "_handle_eio_disconnect", "_handle_connect",
        "_handle_disconnect", "_handle_ack", "_handle_event", "_send_packet",
    ):  # fmt: skip
        assert inspect.iscoroutinefunction(getattr(socketio.AsyncServer, name)), name
    server = socketio.AsyncServer(async_mode="asgi")
    assert server._binary_packet == {} and server.environ == {} and server.manager_initialized is False
    pkt = sio_packet.Packet(encoded_packet='52-["x",{"_placeholder":true,"num":0}]')
    assert pkt.attachment_count == 2 and pkt.attachments == []
    assert callable(pkt.reconstruct_binary)


def test_the_redis_manager_internals_the_room_emitter_uses_are_there() -> None:
    """What RedisRoomEmitter overrides and reads of python-socketio's AsyncRedisManager."""
    for name in ("_publish", "_handle_emit"):
        assert inspect.iscoroutinefunction(getattr(socketio.AsyncRedisManager, name)), name
    manager = socketio.AsyncRedisManager("redis://127.0.0.1:1/0", write_only=True)  # connects lazily
    assert isinstance(manager.host_id, str) and manager.host_id


def test_the_uvicorn_protocol_internals_the_websocket_protocol_uses_are_there() -> None:
    """What HubWebSocketProtocol overrides of uvicorn's sans-I/O websocket protocol."""
    assert inspect.iscoroutinefunction(WebSocketsSansIOProtocol.send)
    assert callable(WebSocketsSansIOProtocol.handle_parser_exception)
