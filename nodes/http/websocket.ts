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
import type { ConnectionHost, ConnectionSink, GatewayHost } from "../hosts/gateway-host.js";
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
  /**
   * With several regions: null when the user is homed in this gateway's region, else the
   * sentence naming their home region (refused 421 WRONG_REGION: their pending entries and
   * deliveries are there). A failed check admits the device.
   */
  readonly region_check?: (user_id: string) => Promise<string | null>;
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

function refuse(socket: Duplex, status: number, reason: string, code: "UNAUTHENTICATED" | "TOKEN_EXPIRED" | "TOKEN_REVOKED" | "NOT_FOUND" | "DRAINING" | "RATE_LIMITED" | "WRONG_REGION", message: string): void {
  const body = JSON.stringify(errorBody(apiError(code, message)));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const CONN = Symbol("conn");
const COUNTED = Symbol("counted");
type Tracked = WebSocket & { [CONN]?: Conn };
type Counted = { [COUNTED]?: { readonly user_id: string; readonly address: string } | undefined };

/** What the edge keeps per open WebSocket; it is also the gateway's sink for that connection. */
class Conn implements ConnectionSink {
  /** Answered the last ping (or opened since). */
  alive = true;
  /** Closed by a sign-out: nothing it sends after that is read. */
  signed_out = false;
  connection: ConnectionHost | null = null;
  constructor(
    readonly ws: WebSocket,
    readonly key: string,
    private readonly shared: { readonly send_buffer_bytes_max: number; readonly compression: WsCompression | null },
  ) {}
  send(text: string): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.shared.send_buffer_bytes_max) {
      ws.close(1013, "too slow: reconnect to resume");
      return;
    }
    sendText(ws, text, this.shared.compression);
  }
  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
  }
}

/** Cuts a socket off a second from now unless it closes first (its close frame goes out first). */
function terminateSoon(ws: WebSocket): void {
  const timer = setTimeout(() => ws.terminate(), 1_000);
  timer.unref();
  ws.once("close", () => clearTimeout(timer));
}

export type WebSocketEdge = {
  close(): void;
  count(): number;
  /** Closes (4001) every open socket of these devices of `user_id`; answers how many. */
  signOut(user_id: string, device_ids: readonly string[]): number;
};

export function attachWebSocket(server: Server, options: WebSocketOptions): WebSocketEdge {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.frame_bytes_max, perMessageDeflate: perMessageDeflate(options.compression ?? null) });
  const per_user = new Map<string, number>();
  const per_address = new Map<string, number>();
  /** `user_id device_id` -> its open sockets (one, almost always), so a sign-out can close them. */
  const by_device = new Map<string, Conn[]>();
  const deviceKey = (user_id: string, device_id: string): string => `${user_id} ${device_id}`;
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

  // Per connection, the edge keeps one `Conn` (the gateway's sink, its liveness and sign-out
  // flags) and a small `Counted` on the raw socket; every listener is one function shared by
  // all sockets, which finds its connection through `this` (an emitter calls its listeners
  // with `this` set to itself). Closures made per connection cost ~56 B each plus the scope
  // they keep: made inside the upgrade handler they kept the request, its head buffer and the
  // token check alive for the connection's life (bench/results/density.md).
  const sharedOptions = { send_buffer_bytes_max: options.send_buffer_bytes_max, compression: options.compression ?? null };
  function uncount(this: Duplex & Counted): void {
    const counted = this[COUNTED];
    if (counted === undefined) return;
    this[COUNTED] = undefined;
    count(per_user, counted.user_id, -1);
    count(per_address, counted.address, -1);
  }
  const countUntilClosed = (socket: Duplex & Counted, user_id: string, address: string): void => {
    count(per_user, user_id, 1);
    count(per_address, address, 1);
    socket[COUNTED] = { user_id, address };
    socket.on("close", uncount);
  };
  function onPong(this: Tracked): void {
    const conn = this[CONN];
    if (conn !== undefined) conn.alive = true;
  }
  function onMessage(this: Tracked, data: WebSocket.RawData, isBinary: boolean): void {
    const conn = this[CONN];
    if (conn === undefined || conn.signed_out || conn.connection === null) return;
    // Binary frames are not part of the protocol; decoding them as text yields a clear error.
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.from(data).toString("utf8");
    conn.connection.text(isBinary ? `\u0000${text}` : text);
  }
  function onClose(this: Tracked): void {
    const conn = this[CONN];
    if (conn === undefined) return;
    const mine = by_device.get(conn.key);
    if (mine !== undefined) {
      const i = mine.indexOf(conn);
      if (i >= 0) mine.splice(i, 1);
      if (mine.length === 0) by_device.delete(conn.key);
    }
    conn.connection?.closed();
    options.on_close?.();
  }
  // An error (a frame over maxPayload: 1009, invalid UTF-8: 1007, ...) has already had ws
  // start its close handshake with the right code; terminating at once cut that frame off
  // and clients saw 1006. Give the close frame a moment to go out, then make sure.
  function onError(this: Tracked): void {
    terminateSoon(this);
  }
  const admit = (req: IncomingMessage, socket: Duplex, head: Buffer, claims: { user_id: string; device_id: string }): void =>
    wss.handleUpgrade(req, socket, head, (ws) => opened(ws as Tracked, claims.user_id, claims.device_id));
  const opened = (ws: Tracked, user_id: string, device_id: string): void => {
    const connection_id = `c${randomBytes(9).toString("base64url")}`;
    const key = deviceKey(user_id, device_id);
    const conn = new Conn(ws, key, sharedOptions);
    ws[CONN] = conn;
    conn.connection = options.gateway.open({ user_id, device_id, connection_id }, conn);
    if (conn.connection === null) {
      ws.close(1013, "draining");
      return;
    }
    options.on_open?.();
    const mine = by_device.get(key);
    if (mine !== undefined) mine.push(conn);
    else by_device.set(key, [conn]);
    if (recently_signed_out.has(key)) queueMicrotask(() => closeSignedOut(conn));
    ws.on("pong", onPong);
    ws.on("message", onMessage);
    ws.on("close", onClose);
    ws.on("error", onError);
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
    const region = options.region_check?.(user_id).catch(() => null) ?? Promise.resolve(null);
    void Promise.all([current, region]).then(([is_current, elsewhere]) => {
      if (socket.destroyed) return;
      if (!is_current) {
        refuse(socket, 401, "Unauthorized", "TOKEN_REVOKED", "This device was signed out (by the user, a password change, or newer sign-ins); sign in again.");
        return;
      }
      if (elsewhere !== null) {
        refuse(socket, 421, "Misdirected Request", "WRONG_REGION", elsewhere);
        return;
      }
      upgrade();
    });
  });

  function closeSignedOut(conn: Conn): void {
    conn.signed_out = true;
    conn.ws.close(CLOSE_SIGNED_OUT, "signed out: sign in again");
    // The close frame goes out first; a peer that never answers it is cut off soon after.
    terminateSoon(conn.ws);
  }

  const pinger = setInterval(() => {
    for (const ws of wss.clients as Set<Tracked>) {
      const conn = ws[CONN];
      if (conn === undefined) continue;
      if (!conn.alive) {
        ws.terminate();
        continue;
      }
      conn.alive = false;
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
        for (const conn of [...(by_device.get(key) ?? [])]) {
          closeSignedOut(conn);
          closed++;
        }
      }
      return closed;
    },
  };
}
