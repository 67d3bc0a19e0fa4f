// The reference server of the benchmark: a minimal socket.io 4.8 server with the hub's streaming contract.
//
//   node bench/node_server.mjs --port 0 --rate 1000 --ids bench_0,bench_1
//
// `subscribe` {"ids": [...]} joins room "telemetry:<id>" per id and acks {ok: true, subscribed: [sorted set]}.
// A producer emits `data` messages {"type":"data","id","value","timestamp","seq"} to those rooms: every id at
// rate/ids Hz, all ids due at the same instants (as the hub's simulator schedules them), each message
// timestamped with its scheduled production time (ISO 8601 UTC, microseconds) and numbered by one seq
// counter. Each timer tick emits everything that is due (a late tick catches up, nothing is skipped).
// --rate 0: no producer (idle connections). Prints {"listening": port} once it serves. On stdin, the line
// "memory" prints {"memory": process.memoryUsage()} after a full garbage collection when node runs with
// --expose-gc. Stops on SIGTERM or SIGINT, and with --stop-with-stdin when its stdin closes (so that it never
// outlives the harness that started it, even one killed with SIGKILL).

import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: options } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    rate: { type: "string", default: "0" },
    ids: { type: "string", default: "bench_0" },
    "stop-with-stdin": { type: "boolean", default: false },
  },
});
const ids = options.ids.split(",");
const rate = Number(options.rate);

const http = createServer();
const io = new Server(http, {
  perMessageDeflate: false, // as the hub: small frames, compression costs more CPU than it saves
  cors: { origin: true },
});

io.on("connection", (socket) => {
  const subscribed = new Set();
  socket.on("subscribe", (payload, ack) => {
    if (typeof ack !== "function") return;
    const wanted = payload && Array.isArray(payload.ids) ? payload.ids : null;
    if (wanted === null || !wanted.every((id) => ids.includes(id))) {
      ack({ ok: false, error: { code: "unknown_telemetry_type", message: "unknown ids" } });
      return;
    }
    for (const id of wanted) {
      subscribed.add(id);
      socket.join(`telemetry:${id}`);
    }
    ack({ ok: true, subscribed: [...subscribed].sort() });
  });
});

/** 2026-11-27T03:30:09.123456Z for microseconds since the epoch. */
function formatTimestamp(us) {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us - ms * 1000).padStart(3, "0")}Z`;
}

function produce() {
  const perId = rate / ids.length;
  const periodMs = 1000 / perId;
  const startMs = performance.now();
  const anchorUs = Math.round((performance.timeOrigin + startMs) * 1000);
  const rooms = ids.map((id) => io.to(`telemetry:${id}`));
  let slot = 0;
  let seq = 0;
  const tick = () => {
    const now = performance.now() - startMs;
    while (slot * periodMs <= now) {
      const offsetMs = slot * periodMs;
      const timestamp = formatTimestamp(anchorUs + Math.round(offsetMs * 1000));
      for (let i = 0; i < ids.length; i++) {
        const wave = 50 + 10 * Math.sin((2 * Math.PI * offsetMs) / 60_000) + (Math.random() - 0.5);
        const value = Math.round(wave * 1000) / 1000;
        seq += 1;
        rooms[i].emit("data", { type: "data", id: ids[i], value, timestamp, seq });
      }
      slot += 1;
    }
    setTimeout(tick, Math.max(0, slot * periodMs - (performance.now() - startMs)));
  };
  tick();
}

http.listen(Number(options.port), options.host, () => {
  if (rate > 0) produce();
  console.log(JSON.stringify({ listening: http.address().port }));
});

function stop() {
  io.close();
  process.exit(0);
}

const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  if (line.trim() === "memory") {
    if (typeof globalThis.gc === "function") globalThis.gc();
    console.log(JSON.stringify({ memory: process.memoryUsage(), gc: typeof globalThis.gc === "function" }));
  }
});
if (options["stop-with-stdin"]) commands.on("close", stop);
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, stop);
