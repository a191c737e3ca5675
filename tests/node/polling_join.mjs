// A polling-only socket.io-client that joins one session from seq 0 (one packet per event).
//   node polling_join.mjs <url> <token> <sessionId> <lastSeq>
// Prints {"kind": "count", "n": ...} every 250 events and {"kind": "done", "seqs": [...]} at <lastSeq>,
// or {"kind": "error", ...} (exit 1) on a disconnect or after 120 s.
import { io } from "socket.io-client";

const [url, token, sessionId, lastSeqText] = process.argv.slice(2);
const lastSeq = Number(lastSeqText);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const seqs = [];
const fail = (message) => {
  print({ kind: "error", message: String(message), received: seqs.length });
  process.exit(1);
};
setTimeout(() => fail("timed out"), 120000).unref();

const socket = io(url, { auth: { token }, transports: ["polling"], reconnection: false });
socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("disconnect", (reason) => fail(`disconnected: ${reason}`));
socket.on("stream:event", ({ event }) => {
  seqs.push(event.seq);
  if (seqs.length % 250 === 0) print({ kind: "count", n: seqs.length });
  if (event.seq === lastSeq) {
    print({ kind: "done", seqs });
    socket.off("disconnect");
    socket.close();
    process.exit(0);
  }
});
socket.on("connect", () => {
  socket.emit("session:join", { sessionId, afterSeq: 0, batch: false }, (ack) => {
    if (!ack.success) fail(`join refused: ${JSON.stringify(ack)}`);
  });
});
