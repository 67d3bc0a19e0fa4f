"""The telemetry hub: streams telemetry over Socket.IO, validates commands, keeps a durable log."""
