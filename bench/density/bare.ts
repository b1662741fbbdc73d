/**
 * The density baselines, in the same run as the node:
 *
 *   BARE=ws  (default) a bare WebSocket server: node:http + ws with the node's ws options (no
 *            permessage-deflate, the same maxPayload); it accepts `/ws?token=...`, keeps each
 *            socket in a Map by its token (as any server must index its connections), and
 *            does nothing else: no auth check, no ping timer, no per-connection state.
 *   BARE=net the floor under ws: node:http answers the upgrade itself (101 with the
 *            Sec-WebSocket-Accept digest) and keeps the raw net.Socket in a Map by its
 *            token, reading and discarding; no ws objects at all.
 *
 * What the node holds beyond these per connection is what its own layers (and ws) cost.
 *
 *   PORT=0 [BARE=net] node --import tsx bench/density/bare.ts   -> prints "open http://127.0.0.1:PORT"
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { defaultLimits } from "../../core/limits.js";

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? "127.0.0.1";
const mode = process.env.BARE ?? "ws";
const server = createServer((_req, res) => res.writeHead(404).end());
const tokenOf = (url: string | undefined): string => new URL(url ?? "/", "http://x").searchParams.get("token") ?? "";
let closeAll: () => void;

if (mode === "net") {
  const sockets = new Map<string, Duplex>();
  const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  server.on("upgrade", (req, socket) => {
    const key = req.headers["sec-websocket-key"];
    if (typeof key !== "string") {
      socket.destroy();
      return;
    }
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const token = tokenOf(req.url);
    sockets.set(token, socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(token));
    socket.resume(); // read and discard (an idle client sends nothing)
  });
  closeAll = () => {
    for (const s of sockets.values()) s.destroy();
  };
} else {
  const sockets = new Map<string, WebSocket>();
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: defaultLimits().frameBytesMax });
  wss.on("connection", (ws, req) => {
    const token = tokenOf(req.url);
    sockets.set(token, ws);
    ws.on("close", () => sockets.delete(token));
    ws.on("error", () => ws.terminate());
  });
  closeAll = () => {
    for (const ws of wss.clients) ws.terminate();
  };
}

server.listen(port, host, () => {
  const address = server.address();
  process.stdout.write(`open http://${host}:${typeof address === "object" && address !== null ? address.port : port}\n`);
});
const stop = (): void => {
  closeAll();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
