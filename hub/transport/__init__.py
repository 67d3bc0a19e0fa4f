"""The transport: everything Socket.IO, Engine.IO and websocket, between the core and the clients' sockets.

The core (hub/core.py) knows none of this: it calls a `Transport` (hub/fanout.py) to deliver, and this
package answers client events by calling the core (`events.Events`).

- `delivery`: the Socket.IO server the hub runs and the core's `Transport` over it (one room per id);
- `events`: each client event decoded, bound to its connection, answered with an ack;
- `connections`: a connection's identity, fixed at connect, and its budget (per connection, per address);
- `refusals`: what was refused, counted always and logged once per kind, client and interval;
- `socketio_server`: python-socketio's server with the hub's checks on packets, events and handshakes;
- `lean_socket`: a lighter Engine.IO socket per client;
- `room_emitter`: the emit path, each message encoded once for all its recipients (and Redis scale-out);
- `websocket_protocol`: uvicorn's websocket protocol writing each client's frames of a loop turn at once;
- `request_guard`: the ASGI guard bounding request heads, bodies, packets per POST and pending handshakes;
- `token_bucket`: the rate limiter those budgets are made of.

Every library internal the hub relies on is used in this package only, and listed here (pinned in
requirements.txt: python-socketio 5.18.1, python-engineio 4.15.1, uvicorn 0.54.0, websockets 17.4);
tests/test_transport_internals.py fails when any of them changes, and each module's header says why it
needs them:
- python-engineio `AsyncSocket`: `receive`, `close(wait, abort, reason)`, `handle_get_request`,
  `schedule_ping`, `_websocket_handler`, and `queue`, `last_ping`, `connected`, `upgrading`, `upgraded`,
  `closing`, `closed` (lean_socket; room_emitter reads `queue` and `closed`), and `engineio.packet.Packet`'s
  `encode_cache` (room_emitter);
- python-socketio `AsyncServer`: `_handle_eio_connect`, `_handle_eio_message`, `_handle_eio_disconnect`,
  `_handle_connect`, `_handle_disconnect`, `_handle_ack`, `_handle_event`, `_send_packet`, `_binary_packet`,
  `environ`, `manager_initialized`; `socketio.packet.Packet`'s `attachment_count`, `attachments`,
  `reconstruct_binary` (socketio_server, room_emitter);
- python-socketio `AsyncRedisManager`: `_publish`, `_handle_emit`, `host_id`, and the manager's `rooms`
  (room_emitter);
- uvicorn `WebSocketsSansIOProtocol`: `send`, `handle_parser_exception`, and `conn`, `transport`,
  `writable`, `disconnected`, `handshake_complete`, `close_sent`, `initial_response`, `client`
  (websocket_protocol).
"""
