/**
 * The compression bench's server process (run.ts forks one per configuration): a ws server
 * with the configuration's permessage-deflate settings, driven over IPC, so that its RSS and
 * CPU are its own. Commands: start, rss, run (send the downstream frames to every connection
 * and count the upstream ones), stop.
 */
import { WebSocketServer, type PerMessageDeflateOptions, type WebSocket } from "ws";
import { downstreamFrames } from "./bodies.js";

type Command =
  | { cmd: "start"; port: number; deflate: PerMessageDeflateOptions | false; threshold_bytes: number }
  | { cmd: "rss" }
  | { cmd: "run"; frames_per_connection: number; upstream_per_connection: number; seed: number }
  | { cmd: "stop" };

const sockets: WebSocket[] = [];
let wss: WebSocketServer | null = null;
let received = 0;
let deflate_negotiated = 0;
/** Frames shorter than this go uncompressed (per send, as the gateway does: ws applies its own threshold only without context takeover). */
let threshold_bytes = 0;

const reply = (m: unknown): void => void process.send?.(m);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function wire(): { written: number; read: number } {
  let written = 0;
  let read = 0;
  for (const ws of sockets) {
    const socket = (ws as unknown as { _socket: { bytesWritten: number; bytesRead: number } })._socket;
    written += socket.bytesWritten;
    read += socket.bytesRead;
  }
  return { written, read };
}

process.on("message", (m: Command) => {
  switch (m.cmd) {
    case "start":
      threshold_bytes = m.threshold_bytes;
      wss = new WebSocketServer({ host: "127.0.0.1", port: m.port, perMessageDeflate: m.deflate, maxPayload: 64 * 1024 });
      wss.on("connection", (ws) => {
        sockets.push(ws);
        if (ws.extensions.includes("permessage-deflate")) deflate_negotiated++;
        ws.on("message", () => void received++);
      });
      wss.on("listening", () => reply({ ok: "started" }));
      return;
    case "rss":
      gc();
      setTimeout(() => {
        gc();
        reply({ rss: process.memoryUsage().rss, connections: sockets.length, deflate_negotiated });
      }, 200);
      return;
    case "run": {
      const frames = downstreamFrames(m.seed, m.frames_per_connection);
      const before = wire();
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      const expected_up = m.upstream_per_connection * sockets.length;
      const up_before = received;
      let pending = sockets.length * frames.length;
      const finish = (): void => {
        const waitUp = (): void => {
          if (received - up_before < expected_up) return void setTimeout(waitUp, 5);
          const used = process.cpuUsage(cpu);
          const after = wire();
          reply({
            cpu_us: used.user + used.system,
            wall_ms: Number(process.hrtime.bigint() - started) / 1e6,
            bytes_written: after.written - before.written,
            bytes_read: after.read - before.read,
            sent: sockets.length * frames.length,
            received: received - up_before,
            payload_bytes_sent: sockets.length * frames.reduce((n, f) => n + Buffer.byteLength(f), 0),
          });
        };
        waitUp();
      };
      // Interleaved over connections, as a gateway's deliveries are.
      for (const frame of frames) {
        const compress = Buffer.byteLength(frame) >= threshold_bytes;
        for (const ws of sockets) {
          ws.send(frame, { compress }, () => {
            if (--pending === 0) finish();
          });
        }
      }
      return;
    }
    case "stop":
      for (const ws of sockets) ws.terminate();
      wss?.close(() => process.exit(0));
      return;
  }
});
