/**
 * The compression bench's client process: opens N connections offering permessage-deflate as
 * browsers do (client_max_window_bits), counts what arrives, and sends the upstream frames
 * when told. Driven over IPC by run.ts.
 */
import WebSocket from "ws";
import { upstreamFrames } from "./bodies.js";

type Command = { cmd: "connect"; port: number; connections: number; offer: boolean } | { cmd: "run"; expect_per_connection: number; upstream_per_connection: number; seed: number } | { cmd: "stop" };

const sockets: WebSocket[] = [];
let received = 0;
const reply = (m: unknown): void => void process.send?.(m);

process.on("message", async (m: Command) => {
  switch (m.cmd) {
    case "connect": {
      for (let i = 0; i < m.connections; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, m.connections - i) }, () =>
            new Promise<void>((ok, fail) => {
              const ws = new WebSocket(`ws://127.0.0.1:${m.port}/`, { perMessageDeflate: m.offer });
              ws.on("open", () => ok());
              ws.on("error", fail);
              ws.on("message", () => void received++);
              sockets.push(ws);
            }),
          ),
        );
      }
      reply({ ok: "connected", connections: sockets.length });
      return;
    }
    case "run": {
      const target = received + m.expect_per_connection * sockets.length;
      const frames = upstreamFrames(m.seed, m.upstream_per_connection);
      for (const frame of frames) for (const ws of sockets) ws.send(frame);
      const wait = (): void => (received >= target ? reply({ ok: "received", received }) : void setTimeout(wait, 5));
      wait();
      return;
    }
    case "stop":
      for (const ws of sockets) ws.terminate();
      process.exit(0);
  }
});
