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
import { LIMITS } from "../../core/limits.js";
import type { GatewayHost } from "../hosts/gateway-host.js";
import type { Tokens } from "../auth.js";
import { perMessageDeflate, sendText, type WsCompression } from "./compression.js";

export type WebSocketOptions = {
  readonly gateway: GatewayHost;
  readonly tokens: Tokens;
  readonly clock: Clock;
  readonly frame_bytes_max: number;
  /** A socket with more than this many bytes queued is too slow and is closed (1013). */
  readonly send_buffer_bytes_max: number;
  readonly ping_interval_ms: number;
  /** Connections one user may hold at once here; past it the upgrade is refused with 429. */
  readonly connections_per_user_max?: number;
  /** Connections from one address (0: no cap); past it the upgrade is refused with 429. */
  readonly connections_per_address_max?: number;
  /**
   * Whether the token's device is still one the user's messages go to (not signed out, nor
   * retired by newer sign-ins: nodes/sessions.ts); a retired one is refused with 401
   * TOKEN_REVOKED. A failed check admits the device (the store being down is no reason to
   * sign anyone out).
   */
  readonly device_current?: (user_id: string, device_id: string) => Promise<boolean>;
  /** permessage-deflate settings (compression.ts), or null/absent: the extension is declined. */
  readonly compression?: WsCompression | null;
  readonly on_open?: () => void;
  readonly on_close?: () => void;
};

/** The close code of a socket whose device was signed out (docs/API.md): sign in again. */
export const CLOSE_SIGNED_OUT = 4001;

/** An 'error' listener shared by every socket: no closure per connection. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function refuse(socket: Duplex, status: number, reason: string, code: "UNAUTHENTICATED" | "TOKEN_EXPIRED" | "TOKEN_REVOKED" | "NOT_FOUND" | "DRAINING" | "RATE_LIMITED", message: string): void {
  const body = JSON.stringify(errorBody(apiError(code, message)));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export type WebSocketEdge = {
  close(): void;
  count(): number;
  /** Closes (4001) every open socket of these devices of `user_id`; answers how many. */
  signOut(user_id: string, device_ids: readonly string[]): number;
};

export function attachWebSocket(server: Server, options: WebSocketOptions): WebSocketEdge {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.frame_bytes_max, perMessageDeflate: perMessageDeflate(options.compression ?? null) });
  const compression = options.compression ?? null;
  const alive = new WeakMap<WebSocket, boolean>();
  const per_user = new Map<string, number>();
  const per_address = new Map<string, number>();
  /** `user_id device_id` -> its open sockets, so a sign-out can close them. */
  const by_device = new Map<string, Set<WebSocket>>();
  const deviceKey = (user_id: string, device_id: string): string => `${user_id} ${device_id}`;
  /** Sockets closed by a sign-out: nothing they send after it is read. */
  const signed_out = new WeakSet<WebSocket>();
  /**
   * Devices signed out lately, oldest first (bounded): an upgrade whose device check passed
   * just before the sign-out arrived is closed as soon as its socket exists.
   */
  const recently_signed_out = new Set<string>();
  const RECENTLY_SIGNED_OUT_MAX = 10_000;
  const user_max = options.connections_per_user_max ?? LIMITS.connectionsPerUserMax;
  const address_max = options.connections_per_address_max ?? LIMITS.connectionsPerAddressMax;
  const count = (map: Map<string, number>, key: string, delta: number): void => {
    const n = (map.get(key) ?? 0) + delta;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };

  // Per connection, only what a connection needs stays reachable from its sockets' listeners:
  // closures made inside the upgrade handler share its scope (the request, its head buffer, the
  // token check), and one listener left on the socket kept all of that for the connection's
  // life (bench/results/density.md: 1,248 B of closures per idle connection). So the
  // long-lived listeners are made here, in functions that see only their arguments.
  const countUntilClosed = (socket: Duplex, user_id: string, address: string): void => {
    count(per_user, user_id, 1);
    count(per_address, address, 1);
    socket.once("close", () => {
      count(per_user, user_id, -1);
      count(per_address, address, -1);
    });
  };
  const admit = (req: IncomingMessage, socket: Duplex, head: Buffer, claims: { user_id: string; device_id: string }): void =>
    wss.handleUpgrade(req, socket, head, (ws) => opened(ws, claims));
  const opened = (ws: WebSocket, claims: { user_id: string; device_id: string }): void => {
    const user_id = claims.user_id;
    const connection_id = `c${randomBytes(9).toString("base64url")}`;
    alive.set(ws, true);
    const connection = options.gateway.open(
      { user_id: claims.user_id, device_id: claims.device_id, connection_id },
      {
        send(text) {
          if (ws.readyState !== WebSocket.OPEN) return;
          if (ws.bufferedAmount > options.send_buffer_bytes_max) {
            ws.close(1013, "too slow: reconnect to resume");
            return;
          }
          sendText(ws, text, compression);
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
    const key = deviceKey(user_id, claims.device_id);
    const mine = by_device.get(key) ?? new Set<WebSocket>();
    mine.add(ws);
    by_device.set(key, mine);
    if (recently_signed_out.has(key)) queueMicrotask(() => closeSignedOut(ws));
    ws.on("pong", () => alive.set(ws, true));
    ws.on("message", (data, isBinary) => {
      if (signed_out.has(ws)) return;
      // Binary frames are not part of the protocol; decoding them as text yields a clear error.
      const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.from(data).toString("utf8");
      connection.text(isBinary ? `\u0000${text}` : text);
    });
    ws.on("close", () => {
      mine.delete(ws);
      if (mine.size === 0 && by_device.get(key) === mine) by_device.delete(key);
      connection.closed();
      options.on_close?.();
    });
    // An error (a frame over maxPayload: 1009, invalid UTF-8: 1007, ...) has already had ws
    // start its close handshake with the right code; terminating at once cut that frame off
    // and clients saw 1006. Give the close frame a moment to go out, then make sure.
    ws.on("error", () => {
      const timer = setTimeout(() => ws.terminate(), 1_000);
      timer.unref();
      ws.once("close", () => clearTimeout(timer));
    });
  };

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
    const user_id = check.claims.user_id;
    const address = req.socket.remoteAddress ?? "unknown";
    if ((per_user.get(user_id) ?? 0) >= user_max) {
      refuse(socket, 429, "Too Many Requests", "RATE_LIMITED", `A user may hold at most ${user_max} connections at once; close one first.`);
      return;
    }
    if (address_max > 0 && (per_address.get(address) ?? 0) >= address_max) {
      refuse(socket, 429, "Too Many Requests", "RATE_LIMITED", `At most ${address_max} connections from one address; close one first.`);
      return;
    }
    // Counted from here, so that upgrades in progress count too; uncounted once the socket closes.
    countUntilClosed(socket, user_id, address);
    // The device check below is asynchronous: until ws owns the socket, a reset must not be
    // an unhandled 'error' (it would take the process down).
    socket.on("error", destroyOnError);
    const upgrade = (): void => admit(req, socket, head, check.claims);
    const current = options.device_current?.(user_id, check.claims.device_id).catch(() => true) ?? Promise.resolve(true);
    void current.then((is_current) => {
      if (socket.destroyed) return;
      if (!is_current) {
        refuse(socket, 401, "Unauthorized", "TOKEN_REVOKED", "This device was signed out (by the user, a password change, or newer sign-ins); sign in again.");
        return;
      }
      upgrade();
    });
  });

  function closeSignedOut(ws: WebSocket): void {
    signed_out.add(ws);
    ws.close(CLOSE_SIGNED_OUT, "signed out: sign in again");
    // The close frame goes out first; a peer that never answers it is cut off soon after.
    const timer = setTimeout(() => ws.terminate(), 1_000);
    timer.unref();
    ws.once("close", () => clearTimeout(timer));
  }

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
    signOut(user_id, device_ids) {
      let closed = 0;
      for (const device_id of device_ids) {
        const key = deviceKey(user_id, device_id);
        recently_signed_out.delete(key);
        recently_signed_out.add(key);
        if (recently_signed_out.size > RECENTLY_SIGNED_OUT_MAX) recently_signed_out.delete(recently_signed_out.values().next().value!);
        for (const ws of by_device.get(key) ?? []) {
          closeSignedOut(ws);
          closed++;
        }
      }
      return closed;
    },
  };
}
