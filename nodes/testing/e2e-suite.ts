/**
 * The end-to-end scenarios of the API, written against docs/API.md alone, shared by the
 * all-in-one node and the production cluster: REST on `api`, sockets on the gateways (users
 * alternate between them, so in a cluster the two sides of a chat sit on different gateways).
 */
import { createECDH, randomBytes, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { Rest, Socket, signIn, signUp, type Account } from "./api-client.js";
import type { PushStandIns } from "./push-stand-ins.js";

export type E2ETarget = {
  api: string;
  gateways: string[];
  /** The APNs and FCM stand-ins the node pushes to (startPushStandIns). */
  push: PushStandIns;
  /**
   * Where media live: the node's own folder (it serves the signed URLs), or S3 (clients PUT
   * and GET at the storage, which answers as S3 does: 200 to a PUT, and a second PUT to the
   * same URL replaces the first; docs/API.md).
   */
  media: "folder" | "s3";
};

/** A signed URL with one character of its signature changed, whatever the store calls it. */
function forgeSignature(url: string): string {
  const parsed = new URL(url);
  const name = ["sig", "X-Amz-Signature"].find((n) => parsed.searchParams.has(n));
  if (name === undefined) throw new Error(`no signature in ${url}`);
  const value = parsed.searchParams.get(name)!;
  parsed.searchParams.set(name, `${value.slice(0, -1)}${value.endsWith("0") ? "1" : "0"}`);
  return parsed.toString();
}

/**
 * PUTs the first `sent` bytes of `body` announced as all of it, then drops the connection:
 * an upload cut off (the app killed, the train in a tunnel). Resolves once the socket is gone.
 */
function putCutOff(url: string, body: Buffer, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: "PUT", headers: { "content-length": String(body.length) } });
    req.on("error", () => resolve());
    req.on("close", () => resolve());
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve());
    });
    req.write(body.subarray(0, sent), () => setTimeout(() => req.destroy(), 200));
  });
}

export function registerE2E(label: string, target: () => E2ETarget): void {
  let n = 0;
  let turn = 0;
  const name = (prefix: string): string => `${prefix}${Date.now() % 100000}${n++}`;
  const api = (): string => target().api;
  /** The next gateway, round robin, as an http base for Socket.open. */
  const gw = (): string => {
    const g = target().gateways;
    return g[turn++ % g.length]!;
  };
  const open = (token: string): Promise<Socket> => Socket.open(gw(), token);

  async function pair(): Promise<[Account, Account]> {
    return [await signUp(api(), name("al")), await signUp(api(), name("bo"))];
  }

  describe(`${label}: messaging`, () => {
    it("delivers a 1:1 message with sent, delivered and read receipts", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      const b = await open(bob.token);
      const sent = await a.sendText(bob.user_id, "hello bob");
      const got = await b.wait((f) => f.event === "new_message" && f.data.message_id === sent.message_id);
      expect(got.data).toMatchObject({ from: alice.user_id, content: "hello bob", type: "text", conversation_id: sent.conversation_id, client_msg_id: sent.client_msg_id });
      b.send("ack", { message_id: sent.message_id, status: "delivered" });
      await a.wait((f) => f.event === "delivery_receipt" && f.data.message_id === sent.message_id && f.data.status === "delivered" && f.data.user_id === bob.user_id);
      b.send("ack", { message_id: sent.message_id, status: "read" });
      await a.wait((f) => f.event === "delivery_receipt" && f.data.message_id === sent.message_id && f.data.status === "read");
      const statuses = a.frames.filter((f) => f.event === "delivery_receipt" && f.data.message_id === sent.message_id).map((f) => f.data.status);
      // `sent` answers every send attempt (docs/API.md), and sendText re-sends after a
      // retryable refusal (a cluster just started may answer one): `sent` may repeat, but the
      // statuses only move forward and each appears.
      const rank = { sent: 0, delivered: 1, read: 2 } as Record<string, number>;
      expect(statuses.map((s) => rank[String(s)])).toEqual([...statuses.map((s) => rank[String(s)])].sort());
      expect([...new Set(statuses)]).toEqual(["sent", "delivered", "read"]);
      expect(statuses.filter((s) => s !== "sent")).toEqual(["delivered", "read"]);
      await Promise.all([a.close(), b.close()]);
    });

    it("answers a retry with the same message_id and shows it once", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      const b = await open(bob.token);
      const id = randomUUID();
      const first = await a.sendText(bob.user_id, "once", id);
      const second = await a.sendText(bob.user_id, "once", id);
      expect(second.message_id).toBe(first.message_id);
      await b.wait((f) => f.event === "new_message" && f.data.message_id === first.message_id);
      await new Promise((r) => setTimeout(r, 300));
      expect(b.messages().filter((f) => f.data.client_msg_id === id)).toHaveLength(1);
      await Promise.all([a.close(), b.close()]);
    });

    it("gives an offline recipient all 100 messages, in order, when it connects", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      const ids: string[] = [];
      for (let i = 0; i < 100; i++) ids.push((await a.sendText(bob.user_id, `m${i}`)).message_id);
      expect([...ids].sort()).toEqual(ids);
      const b = await open(bob.token);
      const got = await b.waitCount((f) => f.event === "new_message", 100);
      expect(got.map((f) => f.data.message_id)).toEqual(ids);
      expect(got.map((f) => f.data.content)).toEqual(ids.map((_, i) => `m${i}`));
      await Promise.all([a.close(), b.close()]);
    });

    it("pages 120 messages of history by cursor with no gap and no repeat", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      const ids: string[] = [];
      for (let i = 0; i < 120; i++) ids.push((await a.sendText(bob.user_id, `h${i}`)).message_id);
      const conversation_id = (await a.sendText(bob.user_id, "last")).conversation_id;
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const q: string = cursor === null ? "?limit=50" : `?limit=50&before=${cursor}`;
        const r = await bob.rest.call("GET", `/api/v1/conversations/${conversation_id}/messages${q}`);
        expect(r.status).toBe(200);
        seen.push(...r.json.messages.map((m: { message_id: string }) => m.message_id));
        cursor = r.json.next_cursor;
        if (cursor === null) break;
      }
      expect(seen.length).toBe(121);
      expect(new Set(seen).size).toBe(121);
      expect([...seen].reverse().slice(0, 120)).toEqual(ids);
      const inbox = await bob.rest.call("GET", "/api/v1/conversations");
      expect(inbox.json.conversations[0]).toMatchObject({ conversation_id, kind: "direct", other_user_id: alice.user_id, unread_count: 121, last_message_preview: "last" });
      await a.close();
    });

    it("fans a group message out to every member and refuses a non-member", async () => {
      const [alice, bob] = await pair();
      const carol = await signUp(api(), name("ca"));
      const mallory = await signUp(api(), name("ma"));
      const g = await alice.rest.call("POST", "/api/v1/groups", { name: "team", member_ids: [bob.user_id, carol.user_id, bob.user_id] });
      expect(g.status).toBe(201);
      const group_id = g.json.group_id;
      const info = await bob.rest.call("GET", `/api/v1/groups/${group_id}`);
      expect(info.json.member_ids.sort()).toEqual([alice.user_id, bob.user_id, carol.user_id].sort());
      expect((await mallory.rest.call("GET", `/api/v1/groups/${group_id}`)).status).toBe(403);
      const [a, b, c, m] = await Promise.all([alice, bob, carol, mallory].map((u) => open(u.token)));
      const client_msg_id = randomUUID();
      a!.send("send_group_message", { group_id, content: "hi team", type: "text", client_msg_id });
      const sent = await a!.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === client_msg_id);
      for (const s of [b!, c!]) await s.wait((f) => f.event === "new_message" && f.data.message_id === sent.data.message_id && f.data.group_id === group_id);
      const bad = randomUUID();
      m!.send("send_group_message", { group_id, content: "let me in", type: "text", client_msg_id: bad });
      const refused = await m!.wait((f) => f.event === "error" && f.data.client_msg_id === bad);
      expect(refused.data).toMatchObject({ code: "NOT_A_MEMBER", retryable: false });
      const history = await mallory.rest.call("GET", `/api/v1/conversations/g.${group_id}/messages`);
      expect(history.status).toBe(403);
      expect(m!.messages()).toHaveLength(0);
      await Promise.all([a, b, c, m].map((s) => s!.close()));
    });
  });

  describe(`${label}: the contract's burst and replay`, () => {
    // Issue 14's acceptance: "a client written from the contract can send a 500-frame burst
    // and ack a 10,000-message replay without one error or close". Twenty senders each send
    // their first 500 frames at once (a fresh connection's burst) to one offline user, who then
    // connects and acks each message as it arrives. The contract lets a busy node refuse part
    // of a burst with the retryable OVERLOADED (resent as it asks, and counted); never with
    // RATE_LIMITED (API.md: a connection may always send a burst of 500 and 50 frames/s), no
    // error a client must show its user, no close; the replay gets neither an error nor a
    // close. Until issue 14's fix the cluster answered RATE_LIMITED here (706 and 180 in two
    // runs; the gateway judged the frame allowance by when it read frames, and read bursts
    // late under load), so this counted them instead of failing; it fails on any now.
    it("a client written from the contract sends a 500-frame burst and acks a 10,000-message replay without one error or close", async () => {
      const bob = await signUp(api(), name("rp"));
      const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => signUp(api(), name(`rs${i}_`))));
      const sockets = await Promise.all(senders.map((s) => open(s.token)));
      const started = Date.now();
      const bursts = await Promise.all(sockets.map((socket) => socket.sendBurst(bob.user_id, 500, 540_000)));
      const refused: Record<string, number> = {};
      for (const b of bursts) for (const [code, n] of Object.entries(b.refused)) refused[code] = (refused[code] ?? 0) + n;
      const unanswered = bursts.reduce((sum, b) => sum + b.unanswered_resends, 0);
      const reasons = new Set(sockets.flatMap((socket) => socket.frames.filter((f) => f.event === "error").map((f) => `${String(f.data.code)}: ${String(f.data.message)}`)));
      process.stdout.write(`${label}: 20 bursts of 500 sent in ${Math.round((Date.now() - started) / 1000)} s; retryable refusals resent: ${JSON.stringify(refused)} (${[...reasons].join(" | ")}); unanswered sends resent: ${unanswered}\n`);
      // The 503s a busy node may answer and the client resends as it asks (API.md: retryable):
      // OVERLOADED, and LOG_UNAVAILABLE / STORE_UNAVAILABLE when a write outlasts its deadline
      // (seen at load ~40 on a 2-core box). Never RATE_LIMITED (429): that is the contract
      // broken, since every connection may send its burst.
      const retryable = new Set(["OVERLOADED", "LOG_UNAVAILABLE", "STORE_UNAVAILABLE"]);
      expect(Object.keys(refused).filter((code) => !retryable.has(code))).toEqual([]);
      for (const socket of sockets) {
        expect(socket.closed).toBeNull();
        expect(socket.frames.filter((f) => f.event === "error" && (f.data.retryable !== true || !retryable.has(String(f.data.code)))).slice(0, 3)).toEqual([]);
      }
      await Promise.all(sockets.map((socket) => socket.close()));

      const b = await open(bob.token);
      const seen = new Set<string>();
      const last = new Map<string, string>();
      let out_of_order = 0;
      b.onFrame((f) => {
        if (f.event !== "new_message") return;
        const id = String(f.data.message_id);
        if (!seen.has(id)) {
          // One order per conversation: each new message is after the last one seen there.
          const conversation = String(f.data.conversation_id);
          const before = last.get(conversation);
          if (before !== undefined && (before.length > id.length || (before.length === id.length && before > id))) out_of_order++;
          last.set(conversation, id);
        }
        seen.add(id);
        b.send("ack", { message_id: id, status: "delivered" });
      });
      const deadline = Date.now() + 300_000;
      while (seen.size < 10_000 && b.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(b.closed).toBeNull();
      expect(b.frames.filter((f) => f.event === "error").slice(0, 3)).toEqual([]);
      expect(seen.size).toBe(10_000);
      expect(last.size).toBe(20);
      expect(out_of_order).toBe(0);
      await b.close();
    }, 900_000);
  });

  describe(`${label}: presence, typing, media`, () => {
    it("reports presence to subscribers and relays typing", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      a.send("subscribe_presence", { user_ids: [bob.user_id] });
      await a.wait((f) => f.event === "presence_update" && f.data.user_id === bob.user_id && f.data.status === "offline");
      const b = await open(bob.token);
      await a.wait((f) => f.event === "presence_update" && f.data.user_id === bob.user_id && f.data.status === "online");
      expect((await alice.rest.call("GET", `/api/v1/users/${bob.user_id}/presence`)).json.status).toBe("online");
      b.send("typing", { to: alice.user_id });
      await a.wait((f) => f.event === "typing" && f.data.from === bob.user_id);
      await b.close();
      await a.wait((f, ) => f.event === "presence_update" && f.data.user_id === bob.user_id && f.data.status === "offline" && typeof f.data.last_seen === "string" && a.frames.filter((x) => x.event === "presence_update").length >= 3);
      await a.close();
    });

    it("uploads and downloads media through pre-signed URLs, for members only", async () => {
      const [alice, bob] = await pair();
      const eve = await signUp(api(), name("ev"));
      const bytes = Buffer.from("\x89PNG fake image bytes");
      const created = await alice.rest.call("POST", "/api/v1/media", { content_type: "image/png", size: bytes.length, filename: "cat.png" });
      expect(created.status).toBe(201);
      const media_id = String(created.json.media_id);
      // Any 2xx means stored: the node answers 201, S3 answers 200.
      const put = await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes });
      expect(put.ok, String(put.status)).toBe(true);
      // The node's folder takes one PUT per URL; S3 replaces the object (docs/API.md).
      const again = await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes });
      if (target().media === "folder") expect(again.status).toBeGreaterThanOrEqual(400);
      else expect(again.status).toBe(200);
      // Before it is sent anywhere, only its uploader may fetch it.
      expect((await alice.rest.call("GET", `/api/v1/media/${media_id}`)).status).toBe(200);
      expect((await bob.rest.call("GET", `/api/v1/media/${media_id}`)).status).toBe(403);
      const a = await open(alice.token);
      const b = await open(bob.token);
      const client_msg_id = randomUUID();
      a.send("send_message", { to: bob.user_id, content: media_id, type: "image", client_msg_id });
      const sent = await a.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === client_msg_id);
      const shown = await b.wait((f) => f.event === "new_message" && f.data.message_id === sent.data.message_id);
      expect(shown.data).toMatchObject({ type: "image", content: media_id });
      // The recipient opens the image by its ID alone, as docs/API.md defines the call.
      const got = await bob.rest.call("GET", `/api/v1/media/${String(shown.data.content)}`);
      expect(got.status).toBe(200);
      expect(got.json).toMatchObject({ content_type: "image/png", size: bytes.length });
      const download = await fetch(got.json.download_url);
      expect(Buffer.from(await download.arrayBuffer())).toEqual(bytes);
      expect((await eve.rest.call("GET", `/api/v1/media/${media_id}`)).status).toBe(403);
      expect((await eve.rest.call("GET", `/api/v1/media/${media_id}?conversation_id=${String(sent.data.conversation_id)}`)).status).toBe(403);
      const forged = forgeSignature(String(got.json.download_url));
      expect(forged).not.toBe(got.json.download_url);
      expect((await fetch(forged)).status).toBe(403);
      await Promise.all([a.close(), b.close()]);
    });

    it("lets every member of a group the media was sent in open it, and no one else", async () => {
      const [alice, bob] = await pair();
      const carol = await signUp(api(), name("ca"));
      const eve = await signUp(api(), name("ev"));
      const g = await alice.rest.call("POST", "/api/v1/groups", { name: "photos", member_ids: [bob.user_id, carol.user_id] });
      const bytes = Buffer.from("%PDF-1.4 minutes");
      const created = await bob.rest.call("POST", "/api/v1/media", { content_type: "application/pdf", size: bytes.length, filename: "minutes.pdf" });
      expect((await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": "application/pdf" }, body: bytes })).ok).toBe(true);
      const b = await open(bob.token);
      // Some text first, so the media is not simply the latest message.
      for (let i = 0; i < 3; i++) {
        const client_msg_id = randomUUID();
        b.send("send_group_message", { group_id: g.json.group_id, content: `before ${i}`, type: "text", client_msg_id });
        await b.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === client_msg_id);
      }
      const client_msg_id = randomUUID();
      b.send("send_group_message", { group_id: g.json.group_id, content: created.json.media_id, type: "file", client_msg_id });
      await b.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === client_msg_id && f.data.status === "sent");
      for (const member of [alice, carol]) {
        const got = await member.rest.call("GET", `/api/v1/media/${created.json.media_id}`);
        expect(got.status, member.username).toBe(200);
        expect(got.json).toMatchObject({ content_type: "application/pdf", size: bytes.length });
      }
      expect((await eve.rest.call("GET", `/api/v1/media/${created.json.media_id}`)).status).toBe(403);
      await b.close();
    });

    it("offers a thumbnail of an uploaded image as a second pre-signed URL, and says why there is none for a corrupt one", async () => {
      const [alice] = await pair();
      const upload = async (bytes: Buffer, content_type: string): Promise<string> => {
        const created = await alice.rest.call("POST", "/api/v1/media", { content_type, size: bytes.length });
        expect((await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": content_type }, body: bytes })).status).toBeLessThan(300);
        return String(created.json.media_id);
      };
      const photo = await sharp({ create: { width: 1200, height: 800, channels: 3, background: "#f08020" } }).png().toBuffer();
      const got = await alice.rest.call("GET", `/api/v1/media/${await upload(photo, "image/png")}`);
      expect(got.status).toBe(200);
      expect(typeof got.json.thumbnail_url).toBe("string");
      const thumb = Buffer.from(await (await fetch(got.json.thumbnail_url)).arrayBuffer());
      const meta = await sharp(thumb).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 320, 213]);
      const broken = await alice.rest.call("GET", `/api/v1/media/${await upload(Buffer.from("\x89PNG but not really"), "image/png")}`);
      expect(broken.status).toBe(200);
      expect(broken.json.thumbnail_url).toBeUndefined();
      expect(broken.json.thumbnail_error).toMatchObject({ code: "IMAGE_UNREADABLE" });
      const pdf = await alice.rest.call("GET", `/api/v1/media/${await upload(Buffer.from("%PDF-1.4"), "application/pdf")}`);
      expect(pdf.json.thumbnail_url).toBeUndefined();
      expect(pdf.json.thumbnail_error).toBeUndefined();
    });

    it("resumes a large upload cut off halfway where it stopped; the recipient opens the file by its ID", async () => {
      const [alice, bob] = await pair();
      // Three parts; distinct bytes per position, so a part stored in the wrong place shows.
      const file = Buffer.alloc(2 * 5 * 1024 * 1024 + 12_345);
      for (let i = 0; i < file.length; i++) file[i] = (i * 131 + (i >> 16)) & 0xff;
      const created = await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: file.length, filename: "trip.mp4" });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ content_type: "video/mp4", size: file.length, part_bytes: 5 * 1024 * 1024, parts: 3, uploaded_parts: [] });
      const media_id = String(created.json.media_id);
      const { part_bytes } = created.json as { part_bytes: number };
      const slice = (n: number): Buffer => file.subarray((n - 1) * part_bytes, Math.min(file.length, n * part_bytes));
      const urls = async (numbers: number[]): Promise<Map<number, string>> => {
        const got = await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: numbers });
        expect(got.status, JSON.stringify(got.json)).toBe(200);
        expect(got.json.parts.map((p: { size: number }) => p.size)).toEqual(numbers.map((n) => slice(n).length));
        return new Map(got.json.parts.map((p: { part_number: number; upload_url: string }) => [p.part_number, p.upload_url]));
      };
      const first = await urls([1, 2, 3]);
      expect((await fetch(first.get(1)!, { method: "PUT", body: slice(1) })).ok).toBe(true);
      // Part 2 is cut off halfway: the connection drops with half its bytes sent.
      await putCutOff(first.get(2)!, slice(2), Math.floor(slice(2).length / 2));
      // A part of the wrong length is refused, and stores nothing.
      expect((await fetch(first.get(3)!, { method: "PUT", body: slice(3).subarray(1) })).status).toBeGreaterThanOrEqual(400);

      // Later (another process, another network): ask where it stopped and send only the rest.
      const status = await alice.rest.call("GET", `/api/v1/media/uploads/${media_id}`);
      expect(status.status).toBe(200);
      expect(status.json.uploaded_parts).toEqual([1]);
      const early = await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/complete`);
      expect(early.status).toBe(409);
      expect(early.json.error.code).toBe("UPLOAD_INCOMPLETE");
      expect(early.json.error.message).toContain("2, 3");
      const missing = [1, 2, 3].filter((n) => !status.json.uploaded_parts.includes(n));
      for (const [n, url] of await urls(missing)) expect((await fetch(url, { method: "PUT", body: slice(n) })).ok, `part ${n}`).toBe(true);
      expect((await alice.rest.call("GET", `/api/v1/media/uploads/${media_id}`)).json.uploaded_parts).toEqual([1, 2, 3]);
      const done = await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/complete`);
      expect(done.status).toBe(200);
      expect(done.json).toEqual({ media_id, content_type: "video/mp4", size: file.length });
      // Completing again (the answer was lost) answers the same; the upload itself is gone.
      expect((await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/complete`)).json).toEqual(done.json);
      expect((await alice.rest.call("GET", `/api/v1/media/uploads/${media_id}`)).status).toBe(404);

      // Sent as a file message, the recipient opens it by its ID alone.
      const a = await open(alice.token);
      const client_msg_id = randomUUID();
      a.send("send_message", { to: bob.user_id, content: media_id, type: "file", client_msg_id });
      const sent = await a.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === client_msg_id);
      expect(sent.data.status).toBe("sent");
      const got = await bob.rest.call("GET", `/api/v1/media/${media_id}`);
      expect(got.status).toBe(200);
      expect(got.json).toMatchObject({ content_type: "video/mp4", size: file.length });
      const bytes = Buffer.from(await (await fetch(got.json.download_url)).arrayBuffer());
      // Buffer.equals: vitest's toEqual walks 10 MiB for minutes.
      expect(bytes.length).toBe(file.length);
      expect(bytes.equals(file)).toBe(true);
      await a.close();
    }, 120_000);

    it("holds a resumable upload to its limits: size, type, its uploader, its parts", async () => {
      const [alice, bob] = await pair();
      const too_big = await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: 512 * 1024 * 1024 + 1 });
      expect([too_big.status, too_big.json.error.code]).toEqual([413, "MEDIA_TOO_LARGE"]);
      const html = await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "text/html", size: 10 });
      expect([html.status, html.json.error.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
      expect((await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: 0 })).json.error.code).toBe("INVALID_FIELD");
      const created = await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "application/zip", size: 6 * 1024 * 1024 });
      expect(created.status).toBe(201);
      const media_id = String(created.json.media_id);
      // Another user can neither see nor continue nor abort it.
      expect((await bob.rest.call("GET", `/api/v1/media/uploads/${media_id}`)).status).toBe(403);
      expect((await bob.rest.call("POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: [1] })).status).toBe(403);
      expect((await bob.rest.call("DELETE", `/api/v1/media/uploads/${media_id}`)).status).toBe(403);
      const past_end = await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: [3] });
      expect([past_end.status, past_end.json.error.code]).toEqual([400, "INVALID_FIELD"]);
      expect((await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: [1, 1] })).json.error.code).toBe("INVALID_FIELD");
      // Not a media yet: it cannot be fetched or sent.
      expect((await alice.rest.call("GET", `/api/v1/media/${media_id}`)).status).toBe(404);
      // Aborted: its URLs and the upload are gone.
      const url = (await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: [2] })).json.parts[0].upload_url as string;
      expect((await alice.rest.call("DELETE", `/api/v1/media/uploads/${media_id}`)).status).toBe(204);
      expect((await alice.rest.call("GET", `/api/v1/media/uploads/${media_id}`)).status).toBe(404);
      // The node refuses a part of an aborted upload; AWS S3 does too (404 NoSuchUpload), while
      // s3proxy stores it aside. Either way nothing of it can become a media.
      const stray = await fetch(url, { method: "PUT", body: Buffer.alloc(1024 * 1024) });
      if (target().media === "folder") expect(stray.status).toBeGreaterThanOrEqual(400);
      expect((await alice.rest.call("POST", `/api/v1/media/uploads/${media_id}/complete`)).status).toBe(404);
      expect((await alice.rest.call("GET", `/api/v1/media/${media_id}`)).status).toBe(404);
    });

    it("refuses image and file content that is not an uploaded media of the sender, with UNKNOWN_MEDIA", async () => {
      const [alice, bob] = await pair();
      const upload = async (who: Account, put: boolean): Promise<string> => {
        const bytes = Buffer.from("GIF89a tiny");
        const created = await who.rest.call("POST", "/api/v1/media", { content_type: "image/gif", size: bytes.length });
        if (put) expect((await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": "image/gif" }, body: bytes })).ok).toBe(true);
        return String(created.json.media_id);
      };
      const bobs = await upload(bob, true);
      const never_uploaded = await upload(alice, false);
      const a = await open(alice.token);
      for (const content of [bobs, never_uploaded, "m_made_up_id"]) {
        const client_msg_id = randomUUID();
        a.send("send_message", { to: bob.user_id, content, type: "image", client_msg_id });
        const refused = await a.wait((f) => f.event === "error" && f.data.client_msg_id === client_msg_id);
        expect(refused.data, content).toMatchObject({ code: "UNKNOWN_MEDIA", retryable: false });
      }
      // Alice still cannot open Bob's media: naming it in a refused send links nothing.
      expect((await alice.rest.call("GET", `/api/v1/media/${bobs}`)).status).toBe(403);
      expect(a.closed).toBeNull();
      await a.close();
    });
  });

  describe(`${label}: push to offline devices`, () => {
    const hex = (n: number): string => Array.from({ length: 64 }, (_, i) => ((n * 7 + i) % 16).toString(16)).join("");
    const until = async (what: string, check: () => boolean, timeout_ms = 10_000): Promise<void> => {
      const deadline = Date.now() + timeout_ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };

    it("notifies an offline recipient's APNs and FCM devices once per message, collapsed by conversation, and forgets unregistered ones", async () => {
      const { apns, fcm } = target().push;
      const [alice, bob] = await pair();
      const run = Date.now() % 100_000;
      const apns_token = hex(run);
      const fcm_token = `fcm${run}:APA91b${"x".repeat(140)}`;
      const marker_token = hex(run + 1);
      for (const device of [{ platform: "apns", token: apns_token }, { platform: "fcm", token: fcm_token }]) {
        expect((await bob.rest.call("POST", "/api/v1/devices", device)).status).toBe(201);
      }
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "apns", token: "not-hex" })).json.error.code).toBe("INVALID_FIELD");
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "fcm", token: "bad token!" })).json.error.code).toBe("INVALID_FIELD");

      const a = await open(alice.token);
      const sent: string[] = [];
      for (let i = 0; i < 3; i++) sent.push((await a.sendText(bob.user_id, `see you at ${i}`)).message_id);
      await until("3 notifications on each platform", () => apns.acceptedFor(apns_token).length >= 3 && fcm.acceptedFor(fcm_token).length >= 3);
      await new Promise((r) => setTimeout(r, 300));
      const on_apns = apns.acceptedFor(apns_token);
      const on_fcm = fcm.acceptedFor(fcm_token);
      expect(on_apns.map((n) => (n.payload["chat"] as { message_id: string }).message_id)).toEqual(sent);
      expect(on_fcm.map((n) => (n.message["data"] as { message_id: string }).message_id).sort()).toEqual([...sent].sort());
      const conversation_id = (on_apns[0]!.payload["chat"] as { conversation_id: string }).conversation_id;
      expect(on_apns.map((n) => n.headers["apns-collapse-id"])).toEqual([conversation_id, conversation_id, conversation_id]);
      expect(on_fcm.map((n) => (n.message["android"] as { collapse_key: string }).collapse_key)).toEqual([conversation_id, conversation_id, conversation_id]);
      expect((on_apns[0]!.payload["aps"] as { alert: { body: string } }).alert.body).toBe("see you at 0");

      // The services say both registrations are gone: the node stops using them.
      apns.unregistered.add(apns_token);
      fcm.unregistered.add(fcm_token);
      await a.sendText(bob.user_id, "anyone there?");
      await until("the 410 and the 404", () => apns.answered.some((x) => x.token === apns_token && x.status === 410) && fcm.answered.some((x) => x.token === fcm_token && x.status === 404));
      await new Promise((r) => setTimeout(r, 200));
      const asked = { apns: apns.answered.filter((x) => x.token === apns_token).length, fcm: fcm.answered.filter((x) => x.token === fcm_token).length };
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "apns", token: marker_token })).status).toBe(201);
      const last = await a.sendText(bob.user_id, "last one");
      await until("the marker device's notification", () => apns.acceptedFor(marker_token).some((n) => (n.payload["chat"] as { message_id: string }).message_id === last.message_id));
      expect(apns.answered.filter((x) => x.token === apns_token).length).toBe(asked.apns);
      expect(fcm.answered.filter((x) => x.token === fcm_token).length).toBe(asked.fcm);
      // A recipient with a live connection gets no notification.
      const b = await open(bob.token);
      await b.waitCount((f) => f.event === "new_message", 5);
      const online = await a.sendText(bob.user_id, "you are online");
      await b.wait((f) => f.event === "new_message" && f.data.message_id === online.message_id);
      await new Promise((r) => setTimeout(r, 300));
      expect(apns.acceptedFor(marker_token).map((n) => (n.payload["chat"] as { message_id: string }).message_id)).not.toContain(online.message_id);
      await Promise.all([a.close(), b.close()]);
    });

    it("posts one signed webhook per message to an offline recipient's hook, and forgets a hook that answers 410", async () => {
      const { webhook } = target().push;
      const [alice, bob] = await pair();
      const run = `${Date.now() % 100_000}-${n++}`;
      const hook = webhook.script(`/hook/${run}`, { status: 204 });
      const marker = webhook.script(`/marker/${run}`, { status: 200 });
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: hook })).status).toBe(201);
      const a = await open(alice.token);
      const sent: string[] = [];
      for (let i = 0; i < 3; i++) sent.push((await a.sendText(bob.user_id, `webhook ${i}`)).message_id);
      await until("3 webhooks", () => webhook.on(`/hook/${run}`).length >= 3);
      await new Promise((r) => setTimeout(r, 300));
      const posts = webhook.on(`/hook/${run}`);
      // Exactly one per message: the delivery header names it, and none repeats.
      expect(posts.map((p) => p.headers["x-chat-delivery"]).sort()).toEqual([...sent].sort());
      for (const p of posts) {
        expect(p.method).toBe("POST");
        expect(String(p.headers["x-chat-signature"])).toMatch(/^sha256=[0-9a-f]{64}$/);
        expect(JSON.parse(p.body.toString("utf8"))).toMatchObject({ user_id: bob.user_id, from: alice.user_id, message_id: p.headers["x-chat-delivery"] });
      }
      // The hook says it is gone: the node deletes the registration and never calls it again.
      webhook.script(`/hook/${run}`, { status: 410 });
      await a.sendText(bob.user_id, "still there?");
      await until("the 410", () => webhook.on(`/hook/${run}`).some((p) => p.status === 410));
      await new Promise((r) => setTimeout(r, 200));
      const asked = webhook.on(`/hook/${run}`).length;
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: marker })).status).toBe(201);
      const last = await a.sendText(bob.user_id, "last one");
      await until("the marker hook's webhook", () => webhook.on(`/marker/${run}`).some((p) => p.headers["x-chat-delivery"] === last.message_id));
      expect(webhook.on(`/hook/${run}`).length).toBe(asked);
      await a.close();
    });

    it("sends one encrypted Web Push per message to an offline recipient's subscription, and forgets one the service calls gone (410)", async () => {
      const { webpush, vapid } = target().push;
      const [alice, bob] = await pair();
      const run = `${Date.now() % 100_000}-${n++}`;
      const subscription = (path: string): string => {
        const ecdh = createECDH("prime256v1");
        ecdh.generateKeys();
        return JSON.stringify({ endpoint: webpush.script(path, { status: 201 }), keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") } });
      };
      const endpoint = `/push/${run}`;
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webpush", token: subscription(endpoint) })).status).toBe(201);
      const a = await open(alice.token);
      for (let i = 0; i < 3; i++) await a.sendText(bob.user_id, `web push ${i}`);
      await until("3 pushes", () => webpush.on(endpoint).length >= 3);
      await new Promise((r) => setTimeout(r, 300));
      const posts = webpush.on(endpoint);
      // One per message (the payload is encrypted to the browser; the adapter's test reads it).
      expect(posts).toHaveLength(3);
      for (const p of posts) {
        expect(p.method).toBe("POST");
        expect(p.headers["content-encoding"]).toBe("aes128gcm");
        expect(String(p.headers["authorization"])).toMatch(new RegExp(`^vapid t=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+, k=${vapid.public_key}$`));
        expect(Number(p.headers["ttl"])).toBeGreaterThan(0);
        expect(p.body.length).toBeGreaterThan(86);
      }
      // The push service says the subscription is gone: it is deleted and never used again.
      webpush.script(endpoint, { status: 410 });
      await a.sendText(bob.user_id, "still subscribed?");
      await until("the 410", () => webpush.on(endpoint).some((p) => p.status === 410));
      await new Promise((r) => setTimeout(r, 200));
      const asked = webpush.on(endpoint).length;
      const marker = `/marker/${run}`;
      expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webpush", token: subscription(marker) })).status).toBe(201);
      await a.sendText(bob.user_id, "last one");
      await until("the marker subscription's push", () => webpush.on(marker).length >= 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(webpush.on(endpoint).length).toBe(asked);
      expect(webpush.on(marker)).toHaveLength(1);
      await a.close();
    });
  });

  describe(`${label}: sign-out and password change`, () => {
    /** The close code once the socket has closed (-1 if it did not within the time). */
    const closedWith = async (socket: Socket, timeout_ms = 10_000): Promise<number> => {
      const deadline = Date.now() + timeout_ms;
      while (socket.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return socket.closed?.code ?? -1;
    };

    it("signs a device out everywhere: its socket on any gateway closes with 4001, its token is refused on REST and at every upgrade", async () => {
      const phone = await signUp(api(), name("so"));
      const laptop = await signIn(api(), phone.username);
      const [p1, p2, l1] = [await open(phone.token), await open(phone.token), await open(laptop.token)];
      expect((await phone.rest.call("DELETE", "/api/v1/sessions/current")).status).toBe(204);
      expect(await closedWith(p1)).toBe(4001);
      expect(await closedWith(p2)).toBe(4001);
      expect((await phone.rest.call("GET", "/api/v1/conversations")).json.error.code).toBe("TOKEN_REVOKED");
      for (const g of target().gateways) await expect(Socket.open(g, phone.token)).rejects.toThrow(/401/);
      expect((await laptop.rest.call("GET", "/api/v1/conversations")).status).toBe(200);
      expect(l1.closed).toBeNull();
      await l1.close();
    });

    it("changes a password: every earlier device is signed out, the fresh session works, the new password signs in", async () => {
      const phone = await signUp(api(), name("pw"));
      const laptop = await signIn(api(), phone.username);
      const sockets = [await open(phone.token), await open(laptop.token)];
      const changed = await phone.rest.call("PUT", "/api/v1/users/me/password", { current_password: "correct horse battery", new_password: "a brand new password" });
      expect(changed.status).toBe(200);
      for (const s of sockets) expect(await closedWith(s)).toBe(4001);
      for (const old of [phone, laptop]) expect((await old.rest.call("GET", "/api/v1/conversations")).json.error.code).toBe("TOKEN_REVOKED");
      const fresh = await open(changed.json.token);
      await fresh.close();
      expect((await signIn(api(), phone.username, "a brand new password")).user_id).toBe(phone.user_id);
    });
  });

  describe(`${label}: bad input`, () => {
    it("answers bad frames with errors and keeps the connection usable", async () => {
      const [alice, bob] = await pair();
      const a = await open(alice.token);
      a.raw("not json");
      await a.wait((f) => f.event === "error" && f.data.code === "MALFORMED_JSON");
      a.send("send_message", { to: bob.user_id, content: "x", type: "text", client_msg_id: "nope" });
      const e = await a.wait((f) => f.event === "error" && f.data.code === "INVALID_FIELD");
      expect(String(e.data.message)).toContain("data.client_msg_id");
      a.send("no_such_event", {});
      await a.wait((f) => f.event === "error" && f.data.code === "UNKNOWN_EVENT");
      const ok = await a.sendText(bob.user_id, "still here");
      expect(ok.message_id).toMatch(/^\d{19}$/);
      expect(a.closed).toBeNull();
      await a.close();
    });

    it("closes a socket that sends an oversized frame, with 1009", async () => {
      const [alice] = await pair();
      const a = await open(alice.token);
      a.raw("x".repeat(70_000));
      await new Promise((r) => setTimeout(r, 300));
      expect(a.closed?.code).toBe(1009);
    });

    it("refuses a bad token at the upgrade with 401", async () => {
      await expect(Socket.open(gw(), "v1.forged.token")).rejects.toThrow(/401/);
    });

    it("answers bad REST bodies with the contract's error shape and changes nothing", async () => {
      const r = new Rest(api());
      const cases: [string, string, unknown, number, string][] = [
        ["POST", "/api/v1/users", "{not json", 400, "MALFORMED_JSON"],
        ["POST", "/api/v1/users", { username: "x", password: "password123" }, 400, "INVALID_FIELD"],
        ["POST", "/api/v1/users", { username: "valid_name" }, 400, "MISSING_FIELD"],
        ["POST", "/api/v1/sessions", { username: "nobody_here", password: "password123" }, 401, "BAD_CREDENTIALS"],
        ["GET", "/api/v1/conversations", undefined, 401, "UNAUTHENTICATED"],
        ["GET", "/api/v1/nope", undefined, 404, "NOT_FOUND"],
      ];
      for (const [method, path, body, status, code] of cases) {
        const res = await r.call(method, path, body);
        expect(res.status, `${method} ${path}`).toBe(status);
        expect(res.json.error.code).toBe(code);
        expect(typeof res.json.error.message).toBe("string");
      }
      const big = await r.call("POST", "/api/v1/users", JSON.stringify({ username: "big_one", password: "p".repeat(300_000) }));
      expect(big.status).toBe(413);
      const [alice] = await pair();
      const huge = await alice.rest.call("POST", "/api/v1/groups", { name: "big", member_ids: Array.from({ length: 500 }, (_, i) => `u${i}`) });
      expect(huge.json.error.code).toBe("GROUP_TOO_LARGE");
      const unknown = await alice.rest.call("POST", "/api/v1/groups", { name: "x", member_ids: ["unone"] });
      expect(unknown.json.error.code).toBe("UNKNOWN_USER");
      const taken = await r.call("POST", "/api/v1/users", { username: alice.username, password: "password123" });
      expect(taken.json.error.code).toBe("USERNAME_TAKEN");
    });
  });
}
