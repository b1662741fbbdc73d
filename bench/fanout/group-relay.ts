/**
 * The fan-out baseline: a bare WebSocket group relay with no storage, no log, no ordering,
 * no receipts beyond `sent`. Every connected socket is a member of the one group; a
 * `send_group_message` is serialized once as a `new_message` and written to every other
 * socket, and the sender gets its `sent` at once. Members' `ack` frames are parsed and
 * dropped. Whatever the node does beyond this (durable append, routing, pending entries per
 * device, per-connection serialization, delivered receipts) is what storage and routing cost.
 *
 * Started as its own process by bench/fanout/run.ts; prints `open http://127.0.0.1:PORT`.
 * Connect with `ws://.../ws?token=NAME` (the token is the member's name, no auth).
 */
import { createServer } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";

const port = Number(process.env.PORT ?? 0);
const members = new Map<string, WebSocket>();
let seq = 1_000_000_000_000_000;
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: "/ws", perMessageDeflate: false });
wss.on("connection", (ws, req) => {
  const user = new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "";
  members.set(user, ws);
  ws.on("message", (data) => {
    const f = JSON.parse(data.toString()) as { event: string; data: { group_id?: string; content?: string; type?: string; client_msg_id?: string } };
    if (f.event !== "send_group_message" || f.data.group_id === undefined) return;
    const message_id = String(seq++).padStart(19, "0");
    const conversation_id = `g.${f.data.group_id}`;
    const text = JSON.stringify({
      event: "new_message",
      data: { message_id, conversation_id, from: user, content: f.data.content, type: f.data.type ?? "text", sent_at: new Date().toISOString(), group_id: f.data.group_id, client_msg_id: f.data.client_msg_id },
    });
    for (const [name, other] of members) if (name !== user && other.readyState === other.OPEN) other.send(text);
    ws.send(JSON.stringify({ event: "delivery_receipt", data: { message_id, conversation_id, status: "sent", client_msg_id: f.data.client_msg_id } }));
  });
  ws.on("close", () => {
    if (members.get(user) === ws) members.delete(user);
  });
  ws.on("error", () => ws.terminate());
});
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`open http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : port}\n`);
});
process.on("SIGTERM", () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
