// A client that resumes the way the Angular service does: `auth` is a function, evaluated on every
// (re)connect, that sends the last seq seen; each connect subscribes again and the hub replays what was
// missed. Prints a JSON line per subscribe ack, then a summary when a notification with code "stop" arrives,
// or, with STOP_AFTER=<connects>:<n>, after n data messages following that many subscribe acks.
// Usage: [STOP_AFTER=2:50] node resume.mjs <hub url> <id> [<id> ...]
import { io } from "socket.io-client";

const [url, ...ids] = process.argv.slice(2);
let lastSeq = null;
const received = [];
const [stopConnects, stopData] = (process.env.STOP_AFTER ?? "0:0").split(":").map(Number);
let subscribes = 0;
let dataAfter = 0;
const deadline = setTimeout(() => finish({ error: "timed out" }), 30000);

const socket = io(url, {
  transports: ["websocket"],
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  auth: (cb) => cb(lastSeq === null ? {} : { since: lastSeq }),
});

function finish(extra) {
  clearTimeout(deadline);
  socket.disconnect();
  process.stdout.write(JSON.stringify({ summary: true, received, ...extra }) + "\n");
}

function record(message) {
  received.push(message);
  lastSeq = message.seq;
  if (message.type === "notification" && message.code === "stop") finish({});
  if (stopConnects > 0 && subscribes >= stopConnects && message.type === "data" && ++dataAfter === stopData) {
    finish({});
  }
}

socket.on("data", record);
socket.on("confirmation", record);
socket.on("notification", record);
socket.on("connect_error", (err) => process.stdout.write(JSON.stringify({ connectError: err.message }) + "\n"));
socket.on("connect", async () => {
  const ack = await socket.timeout(5000).emitWithAck("subscribe", { ids });
  subscribes += 1;
  process.stdout.write(JSON.stringify({ subscribed: ack, receivedBefore: received.length }) + "\n");
});
