// The real JavaScript client (socket.io-client@4) against the agent-tui server.
//   node client_smoke.mjs <url> <token> [command]
// Creates a shell session, sends a message, and prints one JSON line per thing it sees:
//   {"kind": "ack", "event": ..., "ack": ...}, {"kind": "stream:event", ...}, {"kind": "session:status", ...},
//   {"kind": "sessions:changed", ...}, {"kind": "stream:events", ...}, {"kind": "done", "transport": ...}
// then rejoins the session with batch delivery on a second socket, and checks a malformed payload.
import { io } from "socket.io-client";

const [url, token, command = "echo hello-from-js"] = process.argv.slice(2);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (message) => {
  print({ kind: "error", message: String(message) });
  process.exit(1);
};
const progress = { stage: "connect", events: 0, batched: 0 };
setTimeout(() => fail(`timed out at ${JSON.stringify(progress)}`), 30000).unref();

function connect(options = {}) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { auth: { token }, reconnection: false, ...options });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

let socket;
try {
  socket = await connect();
} catch (err) {
  fail(`connect_error: ${err.message} ${JSON.stringify(err.data ?? null)}`);
}
let sessionId = null;
let finished;
const completed = new Promise((resolve) => (finished = resolve));

socket.on("stream:event", (data) => {
  progress.events += 1;
  print({ kind: "stream:event", ...data });
  if (data.event.type === "query:completed" || data.event.type === "query:failed") finished(data.event.seq);
});
socket.on("session:status", (data) => print({ kind: "session:status", ...data }));
socket.on("sessions:changed", (data) => print({ kind: "sessions:changed", action: data.action, sessionId: data.session.sessionId }));

progress.stage = "create";
const created = await socket.emitWithAck("session:create", { architecture: "shell", name: "from-js" });
print({ kind: "ack", event: "session:create", ack: created });
if (!created.success) fail("create failed");
sessionId = created.session.sessionId;

progress.stage = "message";
const sent = await socket.emitWithAck("session:message", { sessionId, content: command });
progress.stage = "stream";
print({ kind: "ack", event: "session:message", ack: sent });
const lastSeq = await completed;

const bad = await socket.emitWithAck("session:message", { sessionId, content: 42 });
print({ kind: "ack", event: "session:message(bad)", ack: bad });

// A second socket (WebSocket only) replays the whole log as batches.
progress.stage = "batched";
const batched = await connect({ transports: ["websocket"] });
const seen = [];
const replayed = new Promise((resolve) => {
  batched.on("stream:events", (data) => {
    print({ kind: "stream:events", sessionId: data.sessionId, seqs: data.events.map((e) => e.seq) });
    seen.push(...data.events.map((e) => e.seq));
    progress.batched = seen.length;
    if (seen.length >= lastSeq) resolve();
  });
});
const joined = await batched.emitWithAck("session:join", { sessionId, afterSeq: 0, batch: true });
print({ kind: "ack", event: "session:join", ack: joined });
await replayed;

print({ kind: "done", transport: socket.io.engine.transport.name, batchedTransport: batched.io.engine.transport.name });
batched.disconnect();
socket.disconnect();
process.exit(0);
