/**
 * A scripted user for end-to-end checks: REST sign-up/sign-in and a raw WebSocket speaking
 * API.md frames, so a test can play "bob" while the browser plays "alice". Test tool only.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { decodeServerFrame, encodeFrame } from "../../core/protocol/decode.js";
import type { ClientFrame, NewMessageData, ServerFrame } from "../../core/protocol/frames.js";

export async function rest<T>(base: string, method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
  return (text.length > 0 ? JSON.parse(text) : undefined) as T;
}

export type Account = { user_id: string; username: string; token: string };

export async function signUp(base: string, username: string, password: string): Promise<Account> {
  await rest(base, "POST", "/api/v1/users", { username, password });
  const s = await rest<{ token: string; user_id: string }>(base, "POST", "/api/v1/sessions", { username, password });
  return { user_id: s.user_id, username, token: s.token };
}

/** Uploads bytes through the pre-signed URL; answers the media_id. */
export async function uploadMedia(base: string, account: Account, bytes: Buffer, content_type: string, filename: string): Promise<string> {
  const created = await rest<{ media_id: string; upload_url: string }>(base, "POST", "/api/v1/media", { content_type, size: bytes.length, filename }, account.token);
  const put = await fetch(created.upload_url, { method: "PUT", headers: { "Content-Type": content_type }, body: new Uint8Array(bytes) });
  if (!put.ok) throw new Error(`upload -> ${put.status}`);
  return created.media_id;
}

export class Bot {
  readonly received: NewMessageData[] = [];
  readonly frames: ServerFrame[] = [];
  /** Ack every new_message with this status (null: do not ack). */
  autoAck: "delivered" | "read" | null = "delivered";
  private waiters: { test: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];

  private constructor(
    readonly account: Account,
    private readonly ws: WebSocket,
  ) {
    ws.on("message", (data) => {
      const decoded = decodeServerFrame((data as Buffer).toString("utf8"));
      if (!decoded.ok) throw new Error(`bot ${account.username}: bad frame ${decoded.error.message}`);
      const f = decoded.value;
      this.frames.push(f);
      if (f.event === "new_message") {
        this.received.push(f.data);
        if (this.autoAck !== null) this.send({ event: "ack", data: { message_id: f.data.message_id, status: this.autoAck, conversation_id: f.data.conversation_id } });
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(f)) return true;
        w.resolve(f);
        return false;
      });
    });
  }

  static async connect(base: string, account: Account): Promise<Bot> {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(account.token)}`);
    const bot = new Bot(account, ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return bot;
  }

  send(frame: ClientFrame): void {
    this.ws.send(encodeFrame(frame));
  }

  waitFor(test: (f: ServerFrame) => boolean, timeout_ms = 5_000): Promise<ServerFrame> {
    const seen = this.frames.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bot ${this.account.username}: timed out waiting`)), timeout_ms);
      this.waiters.push({ test, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Sends a message and waits for its `sent`; answers the message_id. */
  async say(target: { to: string } | { group_id: string }, content: string, type: "text" | "image" | "file" = "text"): Promise<string> {
    const client_msg_id = randomUUID();
    if ("to" in target) this.send({ event: "send_message", data: { to: target.to, content, type, client_msg_id } });
    else this.send({ event: "send_group_message", data: { group_id: target.group_id, content, type, client_msg_id } });
    const f = await this.waitFor((x) => x.event === "delivery_receipt" && x.data.client_msg_id === client_msg_id);
    if (f.event !== "delivery_receipt") throw new Error("unreachable");
    return f.data.message_id;
  }

  close(): void {
    this.ws.close();
  }
}
