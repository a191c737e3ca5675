// Benchmark client (bench/server_events.py): counts events and publish-to-receipt latency.
//   node bench_client.mjs <url> <mode: agent|bare> <batch: 0|1> <sessionId|-> <n> [token]
// Prints "ready" once joined, then one JSON line with its figures after receiving n events.
import { io } from "socket.io-client";

const [url, mode, batchArg, sessionId, nArg, token] = process.argv.slice(2);
const n = Number(nArg);
const batch = batchArg === "1";
const now = () => performance.timeOrigin + performance.now(); // wall clock, sub-ms
const latencies = new Float64Array(n);
let count = 0;
let firstPub = null;
let lastRecv = 0;
let messages = 0;

const socket = io(url, { transports: ["websocket"], auth: token ? { token } : undefined, reconnection: false });

function finish() {
  const sorted = Array.from(latencies.subarray(0, count)).sort((a, b) => a - b);
  const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  process.stdout.write(JSON.stringify({ client: "js", batch, count, messages, firstPub, lastRecv,
    p50: pick(0.5), p99: pick(0.99) }) + "\n");
  socket.disconnect();
  process.exit(0);
}

function take(event) {
  const t = now();
  const sent = event.payload.t;
  if (firstPub === null) firstPub = sent;
  if (count < n) latencies[count] = t - sent;
  count += 1;
  lastRecv = t;
}

socket.on("stream:event", (data) => {
  messages += 1;
  take(data.event);
  if (count >= n) finish();
});
socket.on("stream:events", (data) => {
  messages += 1;
  for (const event of data.events) take(event);
  if (count >= n) finish();
});
socket.on("connect", async () => {
  if (mode === "agent") {
    const ack = await socket.emitWithAck("session:join", { sessionId, batch });
    if (!ack.success) {
      process.stderr.write(JSON.stringify(ack) + "\n");
      process.exit(1);
    }
  }
  process.stdout.write("ready\n");
});
socket.on("connect_error", (err) => {
  process.stderr.write(String(err) + "\n");
  process.exit(1);
});
