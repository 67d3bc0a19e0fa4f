// The benchmark's load generator: N socket.io-client 4.8 connections (websocket transport), the client
// browsers run. bench/run.py starts one or more of these per measurement and drives them over stdin/stdout,
// one JSON object per line:
//
//   node bench/loadgen.mjs --url http://127.0.0.1:8000 --clients 10 --subscribe '{"ids":["bench_0"]}'
//
// --url may list several servers, comma-separated: client i connects to the (i mod n)-th (the processes of
// one scaled-out hub).
//
//   out {"event":"ready", ...}       every client connected and its subscribe acknowledged (or failed)
//   in  {"command":"record","t0":ms,"t1":ms,"drain_s":s}
//                                    record every data message whose timestamp is in [t0, t1) (epoch ms)
//   out {"event":"result", ...}      once every live client has received a message stamped at or after t1
//                                    (delivery is in seq order, so nothing of the window can still come), or
//                                    at t1 + drain_s, whichever is first
//   in  {"command":"close"}          disconnect every client
//   out {"event":"closed"}           then exit 0 (also when stdin closes: never outlive the harness)
//
// Per client it records the window's data seqs as sorted ranges (a set that stays small when it is complete),
// duplicates, order violations (a seq not above the last one received, data or notification), messages of
// ids it did not subscribe, and whether it was disconnected. Latency is receipt time minus the message's
// timestamp, in a log histogram of 200 buckets per decade of microseconds (bucket upper bounds are at most
// 1.2% above the true value), merged by run.py across processes.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const { values: options } = parseArgs({
  options: {
    url: { type: "string" },
    clients: { type: "string", default: "1" },
    subscribe: { type: "string", default: '{"ids":["bench_0"]}' },
    concurrency: { type: "string", default: "100" },
    "ack-timeout-s": { type: "string", default: "60" },
  },
});
const urls = options.url.split(",");
const total = Number(options.clients);
const subscription = JSON.parse(options.subscribe);
const expectedIds = Array.isArray(subscription.ids) && !subscription.all ? new Set(subscription.ids) : null;
const concurrency = Math.max(1, Number(options.concurrency));
const ackTimeoutMs = Number(options["ack-timeout-s"]) * 1000;

const BUCKETS_PER_DECADE = 200;
const MAX_RANGES = 10_000;
const histogram = new Float64Array(BUCKETS_PER_DECADE * 10 + 2); // up to 10^10 us
let negative = 0;
let minMs = Infinity;
let maxMs = -Infinity;

const clients = [];
const notifications = new Map(); // seq -> [code, timestamp]
let recording = false;
let t0 = Infinity;
let t1 = Infinity;

const now = () => performance.timeOrigin + performance.now();

let cachedPrefix = "";
let cachedBase = 0;
/** Epoch milliseconds (with microseconds) of "2026-11-27T03:30:09.123456Z"; Date.parse for other forms. */
function parseTimestamp(text) {
  if (text.length !== 27) return Date.parse(text);
  const prefix = text.slice(0, 19);
  if (prefix !== cachedPrefix) {
    cachedBase = Date.parse(`${prefix}Z`);
    cachedPrefix = prefix;
  }
  return cachedBase + Number(text.slice(20, 26)) / 1000;
}

function recordLatency(ms) {
  if (ms < minMs) minMs = ms;
  if (ms > maxMs) maxMs = ms;
  const us = ms * 1000;
  if (us < 1) {
    negative += ms < 0 ? 1 : 0;
    histogram[0] += 1;
    return;
  }
  const index = 1 + Math.floor(Math.log10(us) * BUCKETS_PER_DECADE);
  histogram[Math.min(index, histogram.length - 1)] += 1;
}

function newClient() {
  return {
    socket: null,
    connected: false,
    error: null,
    count: 0,
    ranges: [],
    late: [],
    truncated: false,
    duplicates: 0,
    outOfOrder: 0,
    unexpected: 0,
    last: -1,
    caughtUp: false,
    disconnected: null,
    received: 0,
  };
}

function contains(ranges, seq) {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (seq < ranges[mid][0]) high = mid - 1;
    else if (seq > ranges[mid][1]) low = mid + 1;
    else return true;
  }
  return false;
}

function onData(client, message) {
  client.received += 1;
  if (!recording || client.caughtUp) return;
  const received = now();
  const produced = parseTimestamp(message.timestamp);
  const seq = message.seq;
  if (produced >= t1) {
    client.caughtUp = true;
    return;
  }
  const inOrder = seq > client.last;
  if (inOrder) client.last = seq;
  if (produced < t0) {
    if (!inOrder) client.outOfOrder += 1;
    return;
  }
  if (expectedIds !== null && !expectedIds.has(message.id)) client.unexpected += 1;
  recordLatency(received - produced);
  const ranges = client.ranges;
  const tail = ranges.length ? ranges[ranges.length - 1] : null;
  if (inOrder) {
    client.count += 1;
    if (tail !== null && seq === tail[1] + 1) tail[1] = seq;
    else if (ranges.length < MAX_RANGES) ranges.push([seq, seq]);
    else client.truncated = true;
  } else if (contains(ranges, seq) || client.late.includes(seq)) {
    client.duplicates += 1;
  } else {
    client.count += 1;
    client.outOfOrder += 1;
    if (client.late.length < MAX_RANGES) client.late.push(seq);
    else client.truncated = true;
  }
}

function onNotification(client, message) {
  client.received += 1;
  if (!recording || client.caughtUp) return;
  if (!notifications.has(message.seq)) notifications.set(message.seq, [message.code, message.timestamp]);
  if (message.seq > client.last) client.last = message.seq;
  else client.outOfOrder += 1;
}

function connect(client, url) {
  return new Promise((resolve) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 20_000 });
    client.socket = socket;
    socket.on("data", (message) => onData(client, message));
    socket.on("notification", (message) => onNotification(client, message));
    socket.on("disconnect", (reason) => {
      if (client.connected) client.disconnected = reason;
    });
    socket.once("connect_error", (error) => {
      client.error = `connect_error: ${error.message}`;
      socket.close();
      resolve();
    });
    socket.once("connect", async () => {
      try {
        const ack = await socket.timeout(ackTimeoutMs).emitWithAck("subscribe", subscription);
        if (ack && ack.ok === true) client.connected = true;
        else client.error = `subscribe refused: ${JSON.stringify(ack)}`;
      } catch (error) {
        client.error = `subscribe: ${error.message}`;
      }
      resolve();
    });
  });
}

function write(object) {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(object)}\n`, resolve));
}

async function connectAll() {
  const started = now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const client = newClient();
      const index = next++;
      clients[index] = client;
      await connect(client, urls[index % urls.length]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const finished = now();
  const failed = clients.filter((c) => !c.connected);
  await write({
    event: "ready",
    connected: total - failed.length,
    failed: failed.length,
    errors: [...new Set(failed.map((c) => c.error))].slice(0, 5),
    started_ms: started,
    finished_ms: finished,
    rss_mb: process.memoryUsage().rss / 2 ** 20,
  });
}

function record(command, done) {
  t0 = command.t0;
  t1 = command.t1;
  const deadline = t1 + command.drain_s * 1000;
  let cpuAtT0 = null;
  let wallAtT0 = 0;
  let cpuInWindow = null;
  recording = true;
  const atT0 = () => {
    cpuAtT0 = process.cpuUsage();
    wallAtT0 = now();
  };
  const atT1 = () => {
    cpuInWindow = { usage: process.cpuUsage(cpuAtT0), wall: now() - wallAtT0 };
  };
  setTimeout(atT0, Math.max(0, t0 - now()));
  setTimeout(atT1, Math.max(0, t1 - now()));
  const check = setInterval(() => {
    const time = now();
    if (time < t1 || cpuInWindow === null) return;
    const live = clients.filter((c) => c.disconnected === null);
    if (time < deadline && !live.every((c) => c.caughtUp)) return;
    clearInterval(check);
    recording = false;
    done(time >= deadline, cpuInWindow);
  }, 20);
}

async function result(timedOut, cpu) {
  const counts = {};
  histogram.forEach((count, index) => {
    if (count) counts[index] = count;
  });
  await write({
    event: "result",
    timed_out: timedOut,
    clients: clients.map((c) => ({
      count: c.count,
      ranges: c.ranges,
      late: c.late,
      truncated: c.truncated,
      duplicates: c.duplicates,
      out_of_order: c.outOfOrder,
      unexpected: c.unexpected,
      caught_up: c.caughtUp,
      connected: c.connected,
      disconnected: c.disconnected,
      received_total: c.received,
    })),
    latency: {
      buckets_per_decade: BUCKETS_PER_DECADE,
      counts,
      negative,
      min_ms: Number.isFinite(minMs) ? minMs : null,
      max_ms: Number.isFinite(maxMs) ? maxMs : null,
    },
    notifications: [...notifications].map(([seq, [code, timestamp]]) => ({ seq, code, timestamp })),
    cpu: { user_s: cpu.usage.user / 1e6, system_s: cpu.usage.system / 1e6, wall_s: cpu.wall / 1000 },
    rss_mb: process.memoryUsage().rss / 2 ** 20,
  });
}

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  for (const client of clients) client?.socket?.disconnect();
  await write({ event: "closed" });
  process.exit(0);
}

const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.command === "record") record(command, (timedOut, cpu) => result(timedOut, cpu));
  else if (command.command === "close") close();
});
commands.on("close", close);

await connectAll();
