/**
 * The baseline: a bare WebSocket relay that speaks just enough of the protocol for the load
 * generator (send_message in, new_message out to the recipient, `sent` back), with no
 * storage, no log, no ordering. Whatever our node does beyond this is what durability,
 * ordering and receipts cost. Started as its own process by bench/load/run.ts.
 */
import { createServer } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";

const port = Number(process.env.PORT ?? 0);
const sockets = new Map<string, WebSocket>();
let seq = 1_000_000_000_000_000;
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws, req) => {
  const user = new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "";
  sockets.set(user, ws);
  ws.on("message", (data) => {
    const f = JSON.parse(data.toString()) as { event: string; data: { to?: string; content?: string; client_msg_id?: string } };
    if (f.event !== "send_message" || f.data.to === undefined) return;
    const message_id = String(seq++).padStart(19, "0");
    const conversation_id = `d.${[user, f.data.to].sort().join(".")}`;
    sockets.get(f.data.to)?.send(JSON.stringify({ event: "new_message", data: { message_id, conversation_id, from: user, content: f.data.content, type: "text", sent_at: new Date().toISOString(), client_msg_id: f.data.client_msg_id } }));
    ws.send(JSON.stringify({ event: "delivery_receipt", data: { message_id, conversation_id, status: "sent", client_msg_id: f.data.client_msg_id } }));
  });
  ws.on("close", () => sockets.delete(user));
});
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`open http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : port}\n`);
});
