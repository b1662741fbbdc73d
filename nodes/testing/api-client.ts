/**
 * A small client written from docs/API.md alone, for end-to-end tests against a running
 * node (all-in-one or cluster): REST with fetch, WebSocket with ws, and helpers to wait for
 * frames. It deliberately does not use the client core: it checks the wire, not our own code.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { LIMITS } from "../../core/limits.js";

export type Frame = { event: string; data: Record<string, unknown> };

export class Rest {
  constructor(
    readonly base: string,
    readonly token: string | null = null,
  ) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(this.token !== null ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }
}

export type Account = { user_id: string; username: string; token: string; device_id: string; rest: Rest };

export async function signUp(base: string, username: string, password = "correct horse battery"): Promise<Account> {
  const r = new Rest(base);
  const created = await r.call("POST", "/api/v1/users", { username, password });
  if (created.status !== 201) throw new Error(`sign-up ${username}: ${created.status} ${JSON.stringify(created.json)}`);
  return signIn(base, username, password);
}

export async function signIn(base: string, username: string, password = "correct horse battery"): Promise<Account> {
  const r = new Rest(base);
  const s = await r.call("POST", "/api/v1/sessions", { username, password });
  if (s.status !== 200) throw new Error(`sign-in ${username}: ${s.status} ${JSON.stringify(s.json)}`);
  return { user_id: s.json.user_id, username, token: s.json.token, device_id: s.json.device_id, rest: new Rest(base, s.json.token) };
}

export class Socket {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private readonly listeners: ((f: Frame) => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      for (const l of this.listeners) l(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  static open(base: string, token: string): Promise<Socket> {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new Socket(ws)));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /**
   * Every frame, those already received first. Use this, not `ws.on("message")` after
   * `await Socket.open(...)`: frames that arrive with the upgrade response are emitted
   * before an awaiting caller resumes, and a late listener never sees them. (The cluster
   * fault run lost a reconnect's pending replay that way under load.)
   */
  onFrame(listener: (f: Frame) => void): void {
    for (const f of this.frames) listener(f);
    this.listeners.push(listener);
  }

  send(event: string, data: unknown): void {
    this.ws.send(JSON.stringify({ event, data }));
  }

  raw(text: string): void {
    this.ws.send(text);
  }

  /**
   * Sends a 1:1 text message and resolves with its `sent` receipt. A retryable refusal
   * (`OVERLOADED` from a busy node) is sent again with the same client_msg_id after a pause,
   * as the contract asks of clients; up to 20 times.
   */
  async sendText(to: string, content: string, client_msg_id: string = randomUUID()): Promise<{ message_id: string; conversation_id: string; client_msg_id: string }> {
    for (let attempt = 0; ; attempt++) {
      const seen = this.frames.length;
      const answer = this.wait((f) => f.data.client_msg_id === client_msg_id && ((f.event === "delivery_receipt" && f.data.status === "sent") || (f.event === "error" && this.frames.indexOf(f) >= seen)));
      this.send("send_message", { to, content, type: "text", client_msg_id });
      const f = await answer;
      if (f.event === "delivery_receipt") return { message_id: String(f.data.message_id), conversation_id: String(f.data.conversation_id), client_msg_id };
      if (f.data.retryable !== true || attempt >= 20) throw new Error(`send refused: ${JSON.stringify(f.data)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Sends `count` text messages to `to` as fast as the contract allows a client: its first 500
   * frames at once (the burst every connection may send), then 50 a second (less a margin for
   * clock skew); a retryable refusal is sent again with the same client_msg_id after a pause
   * that doubles per refusal of that message (250 ms to 4 s), and a send with no answer at all
   * is sent again after `clientSendRetryMs`, doubling up to `clientSendRetryMaxMs`, as the
   * reference client does (a gateway forgets a send its router has not answered; the node
   * deduplicates). Resolves once every message has its `sent`, with the refusals it met by
   * code and the unanswered resends; a non-retryable error, a close or the deadline rejects.
   */
  async sendBurst(to: string, count: number, timeout_ms = 300_000): Promise<{ refused: Record<string, number>; unanswered_resends: number }> {
    const waiting = new Map<string, { content: string; refusals: number; last_at: number; wait_ms: number }>();
    let unanswered_resends = 0;
    const due: { id: string; at: number }[] = [];
    const refused: Record<string, number> = {};
    let failed: string | null = null;
    let sent = 0;
    this.onFrame((f: Frame) => {
      const id = String(f.data.client_msg_id ?? "");
      const entry = waiting.get(id);
      if (entry === undefined) return;
      if (f.event === "delivery_receipt" && f.data.status === "sent") {
        waiting.delete(id);
        sent++;
      } else if (f.event === "error" && f.data.retryable === true) {
        refused[String(f.data.code)] = (refused[String(f.data.code)] ?? 0) + 1;
        entry.last_at = Number.POSITIVE_INFINITY;
        due.push({ id, at: Date.now() + Math.min(4_000, 250 * 2 ** entry.refusals++) });
      } else if (f.event === "error") failed ??= JSON.stringify(f.data);
    });
    for (let i = 0; i < count; i++) waiting.set(randomUUID(), { content: `m${i}`, refusals: 0, last_at: Number.POSITIVE_INFINITY, wait_ms: LIMITS.clientSendRetryMs });
    const queue = [...waiting.keys()];
    const deadline = Date.now() + timeout_ms;
    // The contract's bucket, mirrored: 500 deep, 50 per second (45 here).
    let tokens = 500;
    let at = Date.now();
    while (sent < count) {
      if (failed !== null) throw new Error(`sendBurst: refused for good: ${failed}`);
      if (this.closed !== null) throw new Error(`sendBurst: closed ${JSON.stringify(this.closed)}`);
      if (Date.now() > deadline) throw new Error(`sendBurst: ${sent} of ${count} sent before the deadline`);
      tokens = Math.min(500, tokens + ((Date.now() - at) * 45) / 1000);
      at = Date.now();
      for (const id of queue.splice(0, Math.floor(tokens))) {
        // A refused attempt's resend may find its message already answered `sent` (an earlier
        // attempt that the node did store after all): nothing left to send.
        const entry = waiting.get(id);
        if (entry === undefined) continue;
        tokens -= 1;
        entry.last_at = Date.now();
        this.send("send_message", { to, content: entry.content, type: "text", client_msg_id: id });
      }
      await new Promise((r) => setTimeout(r, 100));
      const now = Date.now();
      for (let i = due.length - 1; i >= 0; i--) if (due[i]!.at <= now) queue.push(due.splice(i, 1)[0]!.id);
      for (const [id, entry] of waiting) {
        if (now - entry.last_at < entry.wait_ms) continue;
        unanswered_resends++;
        entry.last_at = Number.POSITIVE_INFINITY;
        entry.wait_ms = Math.min(LIMITS.clientSendRetryMaxMs, entry.wait_ms * 2);
        queue.push(id);
      }
    }
    return { refused, unanswered_resends };
  }

  wait(match: (f: Frame) => boolean, timeout_ms = 10_000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeout_ms} ms; got ${this.frames.length} frames, last: ${JSON.stringify(this.frames.slice(-3))}`)), timeout_ms);
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  async waitCount(match: (f: Frame) => boolean, count: number, timeout_ms = 15_000): Promise<Frame[]> {
    const deadline = Date.now() + timeout_ms;
    while (Date.now() < deadline) {
      const got = this.frames.filter(match);
      if (got.length >= count) return got;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`expected ${count} matching frames within ${timeout_ms} ms, got ${this.frames.filter(match).length}`);
  }

  messages(): Frame[] {
    return this.frames.filter((f) => f.event === "new_message");
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }
}
