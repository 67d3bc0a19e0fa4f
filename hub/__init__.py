"""The telemetry hub: streams telemetry over Socket.IO, validates commands, keeps a durable log.

Layers, outside in (ARCHITECTURE.md draws them):
- `transport/`: Socket.IO, Engine.IO and websockets: client events in, messages out;
- `web/`: the FastAPI application for HTTP;
- `sources/`: where telemetry comes from (the `Source` protocol, its registry, the MQTT source; the simulator
  lives in the top-level `simulators/`);
- `history/`: the durable log and its backends; `cluster/`: several hub processes over Redis;
- the core, flat in this package and free of any transport, web framework or metrics library: `core` (the
  `Hub` facade), `intake` (what the source reports), `sessions` and `replay` (clients, their subscriptions
  and resumes), `command_lifecycle` (with `commands`), `catalog`, `subscriptions`, `alarms`, `fanout`,
  `publisher`, `supervisor`, `peers` (the other processes, as the core sees them), `health` (the one frozen
  snapshot /health and /metrics report), with the wire contract in `messages` and the error codes in `errors`;
- `app` wires them together once; `settings`, `auth`, `metrics`, `logging_setup` and `cli/` serve them all.
"""
