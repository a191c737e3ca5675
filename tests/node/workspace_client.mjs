// The real JavaScript client (socket.io-client@4) on a workspace session (SPEC §10).
//   node workspace_client.mjs <url> <token> <project>
// Creates a shell session on <project>'s repository, runs a command that changes files, then
// calls session:changes, session:diff, session:commit, session:merge and session:discard,
// printing one JSON line per ack: {"kind": "ack", "event": ..., "ack": ...}.
import { io } from "socket.io-client";

const [url, token, project] = process.argv.slice(2);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (message) => {
  print({ kind: "error", message: String(message) });
  process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();

const socket = await new Promise((resolve, reject) => {
  const s = io(url, { auth: { token }, reconnection: false });
  s.once("connect", () => resolve(s));
  s.once("connect_error", reject);
}).catch((err) => fail(`connect_error: ${err.message}`));

const call = async (event, payload, label = event) => {
  const ack = await socket.timeout(30000).emitWithAck(event, payload);
  print({ kind: "ack", event: label, ack });
  return ack;
};

let finished;
const completed = new Promise((resolve) => (finished = resolve));
const seen = [];
socket.on("stream:event", ({ event }) => {
  seen.push(event.type);
  if (event.type.startsWith("query:") && event.type !== "query:started") finished();
});

const created = await call("session:create", { architecture: "shell", name: "js", workspace: { project } });
if (!created.success) fail(JSON.stringify(created));
const sessionId = created.session.sessionId;
await call("session:message", { sessionId, content: "echo from-js > js.txt && echo more >> README.md" });
await completed;
print({ kind: "events", types: seen });
await call("session:changes", { sessionId });
await call("session:diff", { sessionId, path: "README.md", context: 1 });
await call("session:diff", { sessionId, path: "../outside" }, "session:diff(bad)");
await call("session:discard", { sessionId, paths: ["js.txt"] });
await call("session:commit", { sessionId, message: "from js" });
await call("session:merge", { sessionId, strategy: "squash" });
socket.close();
print({ kind: "done" });
