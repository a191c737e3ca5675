// Baseline for bench/server_events.py: a bare Node socket.io server (the original system's stack)
// emitting one stream:event message per event, as fast as it can.
//   node bench_node_server.mjs            -> prints {"port": N}; then on stdin: "go <n> <rate|0>\n"
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { perMessageDeflate: false });
const now = () => performance.timeOrigin + performance.now();
const filler = "x".repeat(120);

function emitAll(n, rate) {
  let seq = 0;
  const start = now();
  const step = () => {
    // Flood: chunks of 1000 per macrotask so the event loop can flush sockets between them.
    // Paced: everything due by now.
    const due = rate > 0 ? Math.min(n, Math.floor(((now() - start) / 1000) * rate) + 1) : Math.min(n, seq + 1000);
    while (seq < due) {
      seq += 1;
      io.emit("stream:event", { sessionId: "bench", event: { seq, type: "block:delta",
        payload: { blockId: "msg-0123456789abcdef-result", delta: filler, t: now() },
        timestamp: new Date().toISOString(), conversationId: "main", source: "runner" } });
    }
    if (seq < n) (rate > 0 ? setTimeout(step, 1) : setImmediate(step));
  };
  step();
}

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: http.address().port }) + "\n");
});
createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, n, rate] = line.trim().split(" ");
  if (cmd === "go") emitAll(Number(n), Number(rate || 0));
  if (cmd === "quit") process.exit(0);
});
