/**
 * A small in-memory fake of the chat node, just enough of docs/API.md (REST + WebSocket) to
 * drive the web client end to end on 127.0.0.1 while the real node is being built. It is a
 * test tool, not a reference: one process, no persistence, no rate limits, and pending
 * messages are kept per user rather than per device. Requests and frames are decoded with
 * the protocol's own schemas (core/protocol), so a client that pleases this fake speaks the
 * contract. It also serves web/dist/ at "/" like the real node will.
 *
 * Beyond API.md it offers `GET /api/v1/users/{user_id}` -> {user_id, username} (the client
 * needs names for the IDs in inbox entries and group members) and a pre-signed blob store
 * under /fake-blob/.
 *
 *   npx tsx web/test/fake-server.ts [--port 8787]     (serves web/dist; build it first)
 */
import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { directConversationId, groupConversationId, parseConversationId } from "../../core/ids/conversation.js";
import { opaqueId } from "../../core/ids/opaque.js";
import { snowflakeInit, snowflakeNext, type SnowflakeState } from "../../core/ids/snowflake.js";
import { LIMITS } from "../../core/limits.js";
import { decodeBody, decodeClientFrame, encodeFrame } from "../../core/protocol/decode.js";
import { errorBody, httpStatusOf, type ErrorCode } from "../../core/protocol/errors.js";
import type { ClientFrame, NewMessageData, ReceiptStatus, ServerFrame } from "../../core/protocol/frames.js";
import { addMembersBody, createGroupBody, createMediaBody, createSessionBody, createUploadBody, createUserBody, partUrlsBody } from "../../core/protocol/rest.js";
import { resumablePartLength, resumablePlan } from "../../core/ports/blob-store.js";
import { receiptMax, receiptRank } from "../../core/receipts/receipts.js";

const here = dirname(fileURLToPath(import.meta.url));

type User = { user_id: string; username: string; salt: Buffer; hash: Buffer; created_at: string };
type Group = { group_id: string; name: string; creator_id: string; created_at: string; member_ids: string[] };
type Media = {
  media_id: string;
  owner: string;
  content_type: string;
  size: number;
  bytes: Buffer | null;
  sig: string;
  conversations: Set<string>;
  /** A resumable upload not yet completed: its parts so far (docs/API.md "Resumable uploads"). */
  parts?: Map<number, Buffer>;
};
type Conn = { ws: WebSocket; user_id: string; subs: Set<string>; typing_at?: Map<string, number> };

function partSize(item: Media, n: number): number {
  const { part_bytes } = resumablePlan(item.size);
  return resumablePartLength(item.size, part_bytes, n) ?? 0;
}

function uploadAnswer(item: Media): Record<string, unknown> {
  const { part_bytes, parts } = resumablePlan(item.size);
  const uploaded_parts = [...(item.parts?.keys() ?? [])].sort((a, b) => a - b);
  return { media_id: item.media_id, content_type: item.content_type, size: item.size, part_bytes, parts, uploaded_parts, expires_at: new Date(Date.now() + LIMITS.mediaResumableTtlMs).toISOString() };
}

export type FakeServerOptions = { host?: string; port?: number; staticDir?: string | null };

export type FakeServer = {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  /** Cuts the WebSockets of one user (or everyone's), as a network blip would; clients reconnect. */
  dropConnections(user_id?: string): void;
  /** Ends every session of a user: their next call gets 401. */
  revokeSessions(user_id: string): void;
  /** While true, WebSocket upgrades are refused with 503 (clients keep backing off). */
  refuseConnections(on: boolean): void;
  /** Connections open now, per user_id. */
  connectionsOf(user_id: string): number;
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const host = options.host ?? "127.0.0.1";
  const staticDir = options.staticDir === undefined ? join(here, "..", "dist") : options.staticDir;

  const users = new Map<string, User>();
  const byName = new Map<string, string>();
  const sessions = new Map<string, { user_id: string; expires_at_ms: number }>();
  const groups = new Map<string, Group>();
  const messages = new Map<string, NewMessageData[]>();
  const byId = new Map<string, NewMessageData>();
  const dedup = new Map<string, NewMessageData>();
  const receipts = new Map<string, Map<string, ReceiptStatus>>();
  const readMark = new Map<string, string>();
  const pending = new Map<string, Set<string>>();
  const conns = new Map<string, Set<Conn>>();
  const lastSeen = new Map<string, string>();
  const media = new Map<string, Media>();
  let snowflake: SnowflakeState = snowflakeInit(1);
  let refusing = false;

  const draw = (): number => randomBytes(4).readUInt32BE(0);
  const newId = (prefix: string): string => opaqueId(prefix, draw);

  // ---- domain ---------------------------------------------------------------------------

  function membersOf(conversation_id: string): string[] {
    const ref = parseConversationId(conversation_id);
    if (ref === null) return [];
    if (ref.kind === "direct") return [...ref.user_ids];
    return groups.get(ref.group_id)?.member_ids ?? [];
  }

  function online(user_id: string): boolean {
    return (conns.get(user_id)?.size ?? 0) > 0;
  }

  function push(conn: Conn, frame: ServerFrame): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(encodeFrame(frame));
  }

  function pushUser(user_id: string, frame: ServerFrame, except: Conn | null = null): void {
    for (const c of conns.get(user_id) ?? []) if (c !== except) push(c, frame);
  }

  function presenceFrame(user_id: string): ServerFrame {
    const seen = lastSeen.get(user_id);
    return online(user_id)
      ? { event: "presence_update", data: { user_id, status: "online" } }
      : { event: "presence_update", data: { user_id, status: "offline", ...(seen === undefined ? {} : { last_seen: seen }) } };
  }

  function announcePresence(user_id: string): void {
    const frame = presenceFrame(user_id);
    for (const set of conns.values()) for (const c of set) if (c.subs.has(user_id)) push(c, frame);
  }

  function setReceipt(message: NewMessageData, user_id: string, status: ReceiptStatus): void {
    let perUser = receipts.get(message.message_id);
    if (perUser === undefined) receipts.set(message.message_id, (perUser = new Map()));
    const current = perUser.get(user_id) ?? "sent";
    const next = receiptMax(current, status);
    if (next === current) return;
    perUser.set(user_id, next);
    pushUser(message.from, { event: "delivery_receipt", data: { message_id: message.message_id, conversation_id: message.conversation_id, status: next, user_id } });
  }

  /** Our own message's status for the history page: the least any other member reached. */
  function aggregateStatus(message: NewMessageData): ReceiptStatus {
    const others = membersOf(message.conversation_id).filter((id) => id !== message.from);
    let least: ReceiptStatus = "read";
    for (const id of others) {
      const s = receipts.get(message.message_id)?.get(id) ?? "sent";
      if (receiptRank(s) < receiptRank(least)) least = s;
    }
    return others.length === 0 ? "sent" : least;
  }

  function sendMessage(conn: Conn, frame: Extract<ClientFrame, { event: "send_message" | "send_group_message" }>): void {
    const sender = conn.user_id;
    const d = frame.data;
    const fail = (code: ErrorCode, message: string): void =>
      push(conn, { event: "error", data: { code, message, client_msg_id: d.client_msg_id, retryable: false } });
    let conversation_id: string;
    let group_id: string | undefined;
    if (frame.event === "send_message") {
      if (!users.has(frame.data.to)) return void fail("UNKNOWN_USER", `data.to names no user: ${frame.data.to}.`);
      if (frame.data.to === sender) return void fail("SELF_MESSAGE", "You cannot send a message to yourself.");
      conversation_id = directConversationId(sender, frame.data.to);
    } else {
      const g = groups.get(frame.data.group_id);
      if (g === undefined || !g.member_ids.includes(sender)) return void fail("NOT_A_MEMBER", "You are not a member of this group.");
      conversation_id = groupConversationId(g.group_id);
      group_id = g.group_id;
    }
    // Dedup per (sender, conversation, client_msg_id), as the router does (docs/API.md).
    const key = `${sender}|${conversation_id}|${d.client_msg_id}`;
    const earlier = dedup.get(key);
    if (earlier !== undefined) {
      if (earlier.content !== d.content || earlier.type !== d.type) return void fail("CLIENT_MSG_ID_REUSED", "client_msg_id was already used for another message in this conversation.");
      push(conn, { event: "delivery_receipt", data: { message_id: earlier.message_id, conversation_id, status: "sent", client_msg_id: d.client_msg_id } });
      return;
    }
    if (d.type !== "text") {
      const m = media.get(d.content);
      if (m === undefined || m.owner !== sender || m.bytes === null) return void fail("UNKNOWN_MEDIA", "content names no uploaded media of yours.");
      m.conversations.add(conversation_id);
    }
    const list = messages.get(conversation_id) ?? [];
    const floor = list[list.length - 1]?.message_id ?? null;
    const next = snowflakeNext(snowflake, Date.now(), floor);
    snowflake = next.state;
    const message: NewMessageData = {
      message_id: next.id,
      conversation_id,
      from: sender,
      content: d.content,
      type: d.type,
      sent_at: iso(Date.now()),
      client_msg_id: d.client_msg_id,
      ...(group_id === undefined ? {} : { group_id }),
    };
    list.push(message);
    messages.set(conversation_id, list);
    byId.set(message.message_id, message);
    dedup.set(key, message);
    push(conn, { event: "delivery_receipt", data: { message_id: message.message_id, conversation_id, status: "sent", client_msg_id: d.client_msg_id } });
    for (const member of membersOf(conversation_id)) {
      if (member !== sender) {
        let p = pending.get(member);
        if (p === undefined) pending.set(member, (p = new Set()));
        p.add(message.message_id);
      }
      pushUser(member, { event: "new_message", data: message }, conn);
    }
  }

  function ack(conn: Conn, message_id: string, status: "delivered" | "read"): void {
    const message = byId.get(message_id);
    if (message === undefined) {
      push(conn, { event: "error", data: { code: "UNKNOWN_MESSAGE", message: `No message ${message_id}.`, retryable: false } });
      return;
    }
    const user = conn.user_id;
    if (!membersOf(message.conversation_id).includes(user)) return;
    pending.get(user)?.delete(message_id);
    if (message.from === user) return;
    if (status === "delivered") {
      setReceipt(message, user, "delivered");
      return;
    }
    // A read ack is a watermark: everything from others up to it is read.
    const markKey = `${user}|${message.conversation_id}`;
    const mark = readMark.get(markKey);
    if (mark === undefined || mark < message_id) readMark.set(markKey, message_id);
    for (const m of messages.get(message.conversation_id) ?? []) {
      if (m.message_id > message_id) break;
      if (m.from !== user) {
        pending.get(user)?.delete(m.message_id);
        setReceipt(m, user, "read");
      }
    }
  }

  function onFrame(conn: Conn, text: string): void {
    const decoded = decodeClientFrame(text);
    if (!decoded.ok) {
      push(conn, { event: "error", data: { code: decoded.error.code, message: decoded.error.message, retryable: false } });
      return;
    }
    const frame = decoded.value;
    switch (frame.event) {
      case "send_message":
      case "send_group_message":
        sendMessage(conn, frame);
        return;
      case "ack":
        ack(conn, frame.data.message_id, frame.data.status);
        return;
      case "typing": {
        const conversation_id = frame.data.to !== undefined ? directConversationId(conn.user_id, frame.data.to) : groupConversationId(frame.data.group_id!);
        if (!membersOf(conversation_id).includes(conn.user_id)) return;
        // As the node does (docs/API.md): once per 3 s per conversation, never in groups over 100.
        const typing_at = (conn.typing_at ??= new Map());
        const last = typing_at.get(conversation_id);
        if (last !== undefined && Date.now() - last < LIMITS.typingIntervalMs) return;
        typing_at.set(conversation_id, Date.now());
        if (membersOf(conversation_id).length > LIMITS.typingGroupMembersMax) return;
        for (const member of membersOf(conversation_id)) {
          if (member === conn.user_id) continue;
          pushUser(member, { event: "typing", data: { from: conn.user_id, conversation_id, ...(frame.data.group_id === undefined ? {} : { group_id: frame.data.group_id }) } });
        }
        return;
      }
      case "heartbeat":
        return;
      case "subscribe_presence":
        for (const id of frame.data.user_ids) {
          conn.subs.add(id);
          push(conn, presenceFrame(id));
        }
        return;
      case "unsubscribe_presence":
        for (const id of frame.data.user_ids) conn.subs.delete(id);
        return;
    }
  }

  // ---- HTTP -----------------------------------------------------------------------------

  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    res.end(body === undefined ? "" : JSON.stringify(body));
  };
  const fail = (res: http.ServerResponse, code: ErrorCode, message: string): void => json(res, httpStatusOf(code), errorBody({ code, message }));

  async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) return null;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  function userOf(req: http.IncomingMessage, url: URL): string | null {
    const header = req.headers.authorization;
    const token = header?.startsWith("Bearer ") ? header.slice(7) : url.pathname === "/ws" ? url.searchParams.get("token") : null;
    if (token === null || token === undefined) return null;
    const s = sessions.get(token);
    if (s === undefined || s.expires_at_ms < Date.now()) return null;
    return s.user_id;
  }

  const STATIC_TYPES: Record<string, string> = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
  };

  async function serveStatic(res: http.ServerResponse, path: string): Promise<boolean> {
    if (staticDir === null) return false;
    const name = path === "/" ? "index.html" : path.slice(1);
    if (!/^[a-z0-9_.-]+$/i.test(name) || STATIC_TYPES[extname(name)] === undefined) return false;
    try {
      const bytes = await readFile(join(staticDir, name));
      res.writeHead(200, { "Content-Type": STATIC_TYPES[extname(name)]!, "Cache-Control": "no-cache" });
      res.end(bytes);
      return true;
    } catch {
      return false;
    }
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? host}`);
    const path = url.pathname;
    const method = req.method ?? "GET";
    const origin = `http://${req.headers.host ?? host}`;

    if (method === "GET" && path === "/healthz") return json(res, 200, { status: "ok" });

    // The pre-signed blob store: no token, a signature in the URL instead.
    const part = /^\/fake-blob\/([A-Za-z0-9_-]+)\/parts\/([1-9][0-9]*)$/.exec(path);
    if (part !== null && method === "PUT") {
      const m = media.get(part[1]!);
      if (m === undefined || m.parts === undefined || url.searchParams.get("sig") !== m.sig) return void fail(res, "FORBIDDEN", "The signature does not match.");
      const n = Number(part[2]);
      const size = partSize(m, n);
      const bytes = await readBody(req, size);
      if (bytes === null || bytes.length !== size) return void fail(res, "INVALID_FIELD", `Part ${n} must be exactly ${size} bytes.`);
      m.parts.set(n, bytes);
      return json(res, 200, { media_id: m.media_id, part_number: n, size });
    }
    const blob = /^\/fake-blob\/([A-Za-z0-9_-]+)$/.exec(path);
    if (blob !== null) {
      const m = media.get(blob[1]!);
      if (m === undefined || url.searchParams.get("sig") !== m.sig) return void fail(res, "FORBIDDEN", "The signature does not match.");
      if (method === "PUT") {
        const bytes = await readBody(req, m.size);
        if (bytes === null) return void fail(res, "MEDIA_TOO_LARGE", "More bytes than were declared.");
        m.bytes = bytes;
        res.writeHead(200).end();
        return;
      }
      if (method === "GET" && m.bytes !== null) {
        res.writeHead(200, { "Content-Type": m.content_type, "Content-Length": m.bytes.length, "Cache-Control": "private, max-age=600" });
        res.end(m.bytes);
        return;
      }
      return void fail(res, "NOT_FOUND", "No such blob.");
    }

    if (!path.startsWith("/api/v1/")) {
      if (method === "GET" && (await serveStatic(res, path))) return;
      return void fail(res, "NOT_FOUND", `No route ${method} ${path}.`);
    }

    const readJson = async (): Promise<string | null> => {
      const body = await readBody(req, LIMITS.bodyBytesMax);
      return body === null ? null : body.toString("utf8");
    };

    // Open calls: sign up, sign in.
    if (method === "POST" && path === "/api/v1/users") {
      const text = await readJson();
      if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
      const body = decodeBody(createUserBody, text);
      if (!body.ok) return void fail(res, body.error.code, body.error.message);
      if (byName.has(body.value.username)) return void fail(res, "USERNAME_TAKEN", `The username ${body.value.username} is taken.`);
      const salt = randomBytes(16);
      const user: User = { user_id: newId("u"), username: body.value.username, salt, hash: scryptSync(body.value.password, salt, 32), created_at: iso(Date.now()) };
      users.set(user.user_id, user);
      byName.set(user.username, user.user_id);
      return json(res, 201, { user_id: user.user_id, username: user.username, created_at: user.created_at });
    }
    if (method === "POST" && path === "/api/v1/sessions") {
      const text = await readJson();
      if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
      const body = decodeBody(createSessionBody, text);
      if (!body.ok) return void fail(res, body.error.code, body.error.message);
      const user = users.get(byName.get(body.value.username) ?? "");
      if (user === undefined || !timingSafeEqual(scryptSync(body.value.password, user.salt, 32), user.hash)) {
        return void fail(res, "BAD_CREDENTIALS", "The username or password is wrong.");
      }
      const token = randomBytes(24).toString("base64url");
      const expires_at_ms = Date.now() + LIMITS.tokenTtlMs;
      sessions.set(token, { user_id: user.user_id, expires_at_ms });
      return json(res, 200, { token, user_id: user.user_id, expires_at: iso(expires_at_ms) });
    }

    const me = userOf(req, url);
    if (me === null) return void fail(res, "UNAUTHENTICATED", "A valid bearer token is required.");

    if (method === "DELETE" && path === "/api/v1/sessions/current") {
      // Sign-out: this token stops working (the fake keeps one token per device).
      sessions.delete(req.headers.authorization?.slice(7) ?? "");
      res.writeHead(204).end();
      return;
    }

    if (method === "GET" && path === "/api/v1/users") {
      const id = byName.get(url.searchParams.get("username") ?? "");
      if (id === undefined) return void fail(res, "NOT_FOUND", "No such user.");
      return json(res, 200, { user_id: id, username: users.get(id)!.username });
    }
    let m = /^\/api\/v1\/users\/([A-Za-z0-9_-]+)$/.exec(path);
    if (method === "GET" && m !== null) {
      const u = users.get(m[1]!);
      return u === undefined ? fail(res, "NOT_FOUND", "No such user.") : json(res, 200, { user_id: u.user_id, username: u.username });
    }
    m = /^\/api\/v1\/users\/([A-Za-z0-9_-]+)\/presence$/.exec(path);
    if (method === "GET" && m !== null) {
      return json(res, 200, { status: online(m[1]!) ? "online" : "offline", last_seen: lastSeen.get(m[1]!) ?? null });
    }

    if (method === "GET" && path === "/api/v1/conversations") {
      const limit = Math.min(LIMITS.inboxPageConversationsMax, Math.max(1, Number(url.searchParams.get("limit") ?? 50) || 50));
      const offset = Number(url.searchParams.get("before") ?? 0) || 0;
      const ids = new Set<string>();
      for (const c of messages.keys()) if (membersOf(c).includes(me)) ids.add(c);
      for (const g of groups.values()) if (g.member_ids.includes(me)) ids.add(groupConversationId(g.group_id));
      const rows = [...ids].map((c) => {
        const list = messages.get(c) ?? [];
        const last = list[list.length - 1];
        const ref = parseConversationId(c)!;
        const mark = readMark.get(`${me}|${c}`) ?? "";
        const unread = list.filter((x) => x.from !== me && x.message_id > mark).length;
        const preview = last === undefined ? "" : last.type === "text" ? last.content.slice(0, 100) : last.type === "image" ? "📷 Photo" : "📎 File";
        return {
          conversation_id: c,
          kind: ref.kind,
          ...(ref.kind === "direct" ? { other_user_id: ref.user_ids[0] === me ? ref.user_ids[1] : ref.user_ids[0] } : { group_id: ref.group_id }),
          last_message_preview: preview,
          last_message_at: last?.sent_at ?? (ref.kind === "group" ? groups.get(ref.group_id)!.created_at : iso(0)),
          unread_count: unread,
        };
      });
      rows.sort((a, b) => (a.last_message_at < b.last_message_at ? 1 : a.last_message_at > b.last_message_at ? -1 : 0));
      const page = rows.slice(offset, offset + limit);
      return json(res, 200, { conversations: page, next_cursor: offset + limit < rows.length ? String(offset + limit) : null });
    }
    m = /^\/api\/v1\/conversations\/([A-Za-z0-9_.-]+)\/messages$/.exec(path);
    if (method === "GET" && m !== null) {
      const c = m[1]!;
      if (!membersOf(c).includes(me)) return void fail(res, "NOT_A_MEMBER", "You are not a member of this conversation.");
      const limit = Math.min(LIMITS.historyPageMessagesMax, Math.max(1, Number(url.searchParams.get("limit") ?? 50) || 50));
      const before = url.searchParams.get("before");
      const list = (messages.get(c) ?? []).filter((x) => before === null || x.message_id < before);
      const page = list.slice(Math.max(0, list.length - limit));
      const out = page.reverse().map((x) => (x.from === me ? { ...x, status: aggregateStatus(x) } : x));
      return json(res, 200, { messages: out, next_cursor: list.length > limit ? (out[out.length - 1]?.message_id ?? null) : null });
    }

    if (method === "POST" && path === "/api/v1/groups") {
      const text = await readJson();
      if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
      const body = decodeBody(createGroupBody, text);
      if (!body.ok) return void fail(res, body.error.code, body.error.message);
      const unknown = body.value.member_ids.find((id) => !users.has(id));
      if (unknown !== undefined) return void fail(res, "UNKNOWN_USER", `member_ids names no user: ${unknown}.`);
      const member_ids = [...new Set([me, ...body.value.member_ids])];
      if (member_ids.length > LIMITS.groupMembersMax) return void fail(res, "GROUP_TOO_LARGE", `A group has at most ${LIMITS.groupMembersMax} members.`);
      const g: Group = { group_id: newId("g"), name: body.value.name, creator_id: me, created_at: iso(Date.now()), member_ids };
      groups.set(g.group_id, g);
      return json(res, 201, { group_id: g.group_id, created_at: g.created_at });
    }
    m = /^\/api\/v1\/groups\/([A-Za-z0-9_-]+)(\/members(?:\/([A-Za-z0-9_-]+))?)?$/.exec(path);
    if (m !== null) {
      const g = groups.get(m[1]!);
      if (g === undefined) return void fail(res, "NOT_FOUND", "No such group.");
      if (!g.member_ids.includes(me)) return void fail(res, "NOT_A_MEMBER", "You are not a member of this group.");
      if (method === "GET" && m[2] === undefined) return json(res, 200, g);
      if (method === "POST" && m[2] !== undefined && m[3] === undefined) {
        const text = await readJson();
        const body = decodeBody(addMembersBody, text ?? "");
        if (!body.ok) return void fail(res, body.error.code, body.error.message);
        const unknown = body.value.user_ids.find((id) => !users.has(id));
        if (unknown !== undefined) return void fail(res, "UNKNOWN_USER", `user_ids names no user: ${unknown}.`);
        const next = [...new Set([...g.member_ids, ...body.value.user_ids])];
        if (next.length > LIMITS.groupMembersMax) return void fail(res, "GROUP_TOO_LARGE", `A group has at most ${LIMITS.groupMembersMax} members.`);
        g.member_ids = next;
        return json(res, 200, {});
      }
      if (method === "DELETE" && m[3] !== undefined) {
        if (m[3] !== me && g.creator_id !== me) return void fail(res, "FORBIDDEN", "Only the creator may remove others.");
        g.member_ids = g.member_ids.filter((id) => id !== m![3]);
        res.writeHead(204).end();
        return;
      }
    }

    if (method === "POST" && path === "/api/v1/media") {
      const text = await readJson();
      if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
      const body = decodeBody(createMediaBody, text);
      if (!body.ok) return void fail(res, body.error.code, body.error.message);
      const item: Media = { media_id: newId("m"), owner: me, content_type: body.value.content_type, size: body.value.size, bytes: null, sig: randomUUID(), conversations: new Set() };
      media.set(item.media_id, item);
      return json(res, 201, { media_id: item.media_id, upload_url: `${origin}/fake-blob/${item.media_id}?sig=${item.sig}`, expires_at: iso(Date.now() + LIMITS.mediaUrlTtlMs) });
    }
    if (method === "POST" && path === "/api/v1/media/uploads") {
      const text = await readJson();
      if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
      const body = decodeBody(createUploadBody, text);
      if (!body.ok) return void fail(res, body.error.code, body.error.message);
      if (body.value.size > LIMITS.mediaResumableBytesMax) return void fail(res, "MEDIA_TOO_LARGE", `A resumable upload may be at most ${LIMITS.mediaResumableBytesMax} bytes.`);
      const item: Media = { media_id: newId("m"), owner: me, content_type: body.value.content_type, size: body.value.size, bytes: null, sig: randomUUID(), conversations: new Set(), parts: new Map() };
      media.set(item.media_id, item);
      return json(res, 201, uploadAnswer(item));
    }
    m = /^\/api\/v1\/media\/uploads\/([A-Za-z0-9_-]+)(\/parts|\/complete)?$/.exec(path);
    if (m !== null) {
      const item = media.get(m[1]!);
      if (item !== undefined && item.owner !== me) return void fail(res, "FORBIDDEN", "Only the uploader may see or continue an upload.");
      if (method === "POST" && m[2] === "/complete" && item?.bytes !== null && item !== undefined) return json(res, 200, { media_id: item.media_id, content_type: item.content_type, size: item.size });
      if (item === undefined || item.parts === undefined) return void fail(res, "NOT_FOUND", "No unfinished upload has this ID.");
      if (method === "GET" && m[2] === undefined) return json(res, 200, uploadAnswer(item));
      if (method === "POST" && m[2] === "/parts") {
        const text = await readJson();
        if (text === null) return void fail(res, "BODY_TOO_LARGE", "The body is too large.");
        const body = decodeBody(partUrlsBody, text);
        if (!body.ok) return void fail(res, body.error.code, body.error.message);
        const { parts } = resumablePlan(item.size);
        const beyond = body.value.part_numbers.find((n) => n > parts);
        if (beyond !== undefined) return void fail(res, "INVALID_FIELD", `part_numbers: there is no part ${beyond}.`);
        const urls = body.value.part_numbers.map((n) => ({ part_number: n, size: partSize(item, n), upload_url: `${origin}/fake-blob/${item.media_id}/parts/${n}?sig=${item.sig}` }));
        return json(res, 200, { parts: urls, expires_at: iso(Date.now() + LIMITS.mediaUrlTtlMs) });
      }
      if (method === "POST" && m[2] === "/complete") {
        const { parts } = resumablePlan(item.size);
        const missing = Array.from({ length: parts }, (_, i) => i + 1).filter((n) => !item.parts!.has(n));
        if (missing.length > 0) return void fail(res, "UPLOAD_INCOMPLETE", `Parts ${missing.join(", ")} of ${parts} are not uploaded yet.`);
        item.bytes = Buffer.concat(Array.from({ length: parts }, (_, i) => item.parts!.get(i + 1)!));
        delete item.parts;
        return json(res, 200, { media_id: item.media_id, content_type: item.content_type, size: item.size });
      }
      if (method === "DELETE" && m[2] === undefined) {
        media.delete(item.media_id);
        res.writeHead(204).end();
        return;
      }
    }
    m = /^\/api\/v1\/media\/([A-Za-z0-9_-]+)$/.exec(path);
    if (method === "GET" && m !== null) {
      const item = media.get(m[1]!);
      if (item === undefined || item.bytes === null) return void fail(res, "NOT_FOUND", "No such media.");
      const allowed = item.owner === me || [...item.conversations].some((c) => membersOf(c).includes(me));
      if (!allowed) return void fail(res, "FORBIDDEN", "You may not see this media.");
      return json(res, 200, { download_url: `${origin}/fake-blob/${item.media_id}?sig=${item.sig}`, content_type: item.content_type, size: item.size });
    }

    return void fail(res, "NOT_FOUND", `No route ${method} ${path}.`);
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      console.error("fake-server:", e);
      if (!res.headersSent) fail(res, "INTERNAL", "The fake server failed.");
    });
  });

  // ---- WebSocket ------------------------------------------------------------------------

  const wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.frameBytesMax });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? host}`);
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== "/ws") return refuse(404, "Not Found");
    if (refusing) return refuse(503, "Service Unavailable");
    const user_id = userOf(req, url);
    if (user_id === null) return refuse(401, "Unauthorized");
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Conn = { ws, user_id, subs: new Set() };
      let set = conns.get(user_id);
      if (set === undefined) conns.set(user_id, (set = new Set()));
      const first = set.size === 0;
      set.add(conn);
      if (first) announcePresence(user_id);
      // Everything still pending for this user, in conversation order.
      const ids = [...(pending.get(user_id) ?? [])].sort();
      for (const id of ids) push(conn, { event: "new_message", data: byId.get(id)! });
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        onFrame(conn, (data as Buffer).toString("utf8"));
      });
      ws.on("close", () => {
        set.delete(conn);
        if (set.size === 0) {
          lastSeen.set(user_id, iso(Date.now()));
          announcePresence(user_id);
        }
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      for (const set of conns.values()) for (const c of set) c.ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    dropConnections: (user_id) => {
      for (const [owner, set] of conns) if (user_id === undefined || owner === user_id) for (const c of [...set]) c.ws.terminate();
    },
    revokeSessions: (user_id) => {
      for (const [token, s] of sessions) if (s.user_id === user_id) sessions.delete(token);
    },
    refuseConnections: (on) => {
      refusing = on;
    },
    connectionsOf: (user_id) => conns.get(user_id)?.size ?? 0,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf("--port");
  const port = at >= 0 ? Number(process.argv[at + 1]) : 8787;
  const fake = await startFakeServer({ port });
  console.log(`fake chat node on ${fake.url} (serving web/dist)`);
}
