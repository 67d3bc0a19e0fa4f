// Compiled by tests/test_contract.py (tsc --noEmit): the generated types work as socket.io-client's
// Socket<ListenEvents, EmitEvents> type parameters, and they catch what the hub would refuse.
import { io, type Socket } from "socket.io-client";

import type { ClientToServerEvents, DataMessage, ServerToClientEvents } from "./hub";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:8000", {
  autoConnect: false,
  transports: ["websocket"],
  auth: { since: 1041 },
});

socket.on("data", (message: DataMessage) => message.seq.toFixed());
socket.on("confirmation", (message) => (message.status === "timeout" ? message.command_id : message.message));
socket.emit("subscribe", { ids: ["battery_voltage"], since: 1041 }, (ack) =>
  ack.ok ? ack.subscribed.join() : ack.error.code,
);

export async function send(): Promise<string> {
  const ack = await socket.emitWithAck("command", { command: "set_mode", parameters: { mode: "safe" } });
  return ack.ok ? ack.command_id : `${ack.error.code}: ${ack.error.message}`;
}

// @ts-expect-error the hub has no such event
socket.emit("subscribe_all", {});
// @ts-expect-error ids are strings
socket.emit("unsubscribe", { ids: [42] }, () => undefined);
