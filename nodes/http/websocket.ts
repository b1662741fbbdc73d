/**
 * The WebSocket edge: authenticates the upgrade (a bad token is refused with HTTP 401
 * before any WebSocket exists), hands each socket to the gateway host, and keeps sockets
 * honest: frames over the limit close with 1009 (ws's maxPayload), a peer that stops
 * answering pings is dropped, and a client that does not read fast enough is disconnected
 * rather than buffered without bound (it reconnects and gets its pending messages).
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { Clock } from "../../core/ports/clock.js";
import { errorBody, apiError } from "../../core/protocol/errors.js";
import type { GatewayHost } from "../hosts/gateway-host.js";
import type { Tokens } from "../auth.js";

export type WebSocketOptions = {
  readonly gateway: GatewayHost;
  readonly tokens: Tokens;
  readonly clock: Clock;
  readonly frame_bytes_max: number;
  /** A socket with more than this many bytes queued is too slow and is closed (1013). */
  readonly send_buffer_bytes_max: number;
  readonly ping_interval_ms: number;
  readonly on_open?: () => void;
  readonly on_close?: () => void;
};

function refuse(socket: Duplex, status: number, reason: string, code: "UNAUTHENTICATED" | "TOKEN_EXPIRED" | "NOT_FOUND" | "DRAINING", message: string): void {
  const body = JSON.stringify(errorBody(apiError(code, message)));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function attachWebSocket(server: Server, options: WebSocketOptions): { close(): void; count(): number } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.frame_bytes_max, perMessageDeflate: false });
  const alive = new WeakMap<WebSocket, boolean>();

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/ws") {
      refuse(socket, 404, "Not Found", "NOT_FOUND", "WebSockets live at /ws.");
      return;
    }
    const header = req.headers.authorization;
    const token = url.searchParams.get("token") ?? (header !== undefined && header.startsWith("Bearer ") ? header.slice(7) : null);
    const check = options.tokens.verify(token, options.clock.now());
    if (!check.ok) {
      refuse(socket, 401, "Unauthorized", check.code, check.message);
      return;
    }
    if (options.gateway.isDraining) {
      refuse(socket, 503, "Service Unavailable", "DRAINING", "This gateway is draining; connect to another.");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection_id = `c${randomBytes(9).toString("base64url")}`;
      alive.set(ws, true);
      const connection = options.gateway.open(
        { user_id: check.claims.user_id, device_id: check.claims.device_id, connection_id },
        {
          send(text) {
            if (ws.readyState !== WebSocket.OPEN) return;
            if (ws.bufferedAmount > options.send_buffer_bytes_max) {
              ws.close(1013, "too slow: reconnect to resume");
              return;
            }
            ws.send(text);
          },
          close(code, reason) {
            if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
          },
        },
      );
      if (connection === null) {
        ws.close(1013, "draining");
        return;
      }
      options.on_open?.();
      ws.on("pong", () => alive.set(ws, true));
      ws.on("message", (data, isBinary) => {
        // Binary frames are not part of the protocol; decoding them as text yields a clear error.
        const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.from(data).toString("utf8");
        connection.text(isBinary ? `\u0000${text}` : text);
      });
      ws.on("close", () => {
        connection.closed();
        options.on_close?.();
      });
      ws.on("error", () => ws.terminate());
    });
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, options.ping_interval_ms);
  pinger.unref();

  return {
    close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
    count: () => wss.clients.size,
  };
}
