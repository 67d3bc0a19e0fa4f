// Does what the Angular app does through ngx-socket-io: connect, subscribe with emitWithAck, receive data,
// send a command with emitWithAck and follow its confirmations. Prints one JSON summary on stdout.
// Usage: node client.mjs <hub url> <transport: default|websocket> <id> <id> <command json>
import { io } from "socket.io-client";

const [url, transport, idA, idB, commandJson] = process.argv.slice(2);
const wanted = 5; // data messages per id before sending the command
const deadline = setTimeout(() => finish({ error: "timed out" }), 15000);

const socket = io(url, transport === "websocket" ? { transports: ["websocket"] } : {});
const summary = { data: [], confirmations: [], notifications: [] };
let commandId = null;

function finish(extra) {
  clearTimeout(deadline);
  summary.transport = socket.io.engine ? socket.io.engine.transport.name : null;
  socket.disconnect();
  process.stdout.write(JSON.stringify({ ...summary, ...extra }) + "\n");
}

socket.on("connect_error", (err) => finish({ error: `connect_error: ${err.message}` }));
socket.on("notification", (message) => summary.notifications.push(message));
socket.on("confirmation", (message) => {
  summary.confirmations.push(message);
  if (message.command_id === commandId && ["completed", "failed", "timeout"].includes(message.status)) {
    finish({});
  }
});

socket.on("data", async (message) => {
  summary.data.push(message);
  const counts = [idA, idB].map((id) => summary.data.filter((m) => m.id === id).length);
  if (commandId === null && Math.min(...counts) >= wanted) {
    commandId = "pending";
    summary.commandAck = await socket.timeout(5000).emitWithAck("command", JSON.parse(commandJson));
    commandId = summary.commandAck.command_id ?? null;
    if (!summary.commandAck.ok) finish({});
    // confirmations that came before the ack are already in summary.confirmations
    const done = summary.confirmations.find(
      (c) => c.command_id === commandId && ["completed", "failed", "timeout"].includes(c.status),
    );
    if (done) finish({});
  }
});

socket.on("connect", async () => {
  summary.badAck = await socket.timeout(5000).emitWithAck("subscribe", "not an object");
  summary.unknownAck = await socket.timeout(5000).emitWithAck("warp_drive", {});
  summary.subscribeAck = await socket.timeout(5000).emitWithAck("subscribe", { ids: [idA, idB] });
});
