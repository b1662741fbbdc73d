/**
 * The test client's frame capture. A server that writes frames right after the upgrade gets
 * them into the same TCP read as the 101 response; ws emits them before a caller awaiting
 * `open` resumes. The cluster fault run attached its listener that way and, under load,
 * "lost" a reconnect's whole pending replay (the server had sent it). `onFrame` must see them.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { Socket } from "./api-client.js";

let wss: WebSocketServer;
let base: string;

beforeAll(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  wss.on("connection", (ws) => {
    for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ event: "new_message", data: { i } }));
  });
  await new Promise((r) => wss.once("listening", r));
  base = `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => wss.close(() => r())));

it("hands onFrame the frames that arrived with the upgrade, then the rest, in order", async () => {
  for (let k = 0; k < 10; k++) {
    const s = await Socket.open(base, "token");
    const seen: unknown[] = [];
    s.onFrame((f) => seen.push(f.data.i));
    await s.waitCount((f) => f.event === "new_message", 3, 5_000);
    expect(seen).toEqual([0, 1, 2]);
    await s.close();
  }
});
