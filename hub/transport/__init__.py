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

Library internals this package relies on are listed in the header of the module that uses them, with the
pinned versions; tests/test_lean_socket.py, tests/test_socketio_server.py, tests/test_room_emitter.py and
tests/test_websocket_protocol.py fail when any of them changes.
"""
