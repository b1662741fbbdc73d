/**
 * Issue 14, probed from outside as an attacker (and a careless client) would: one test per
 * finding, each of which failed against the node before its fix. Traffic only to loopback,
 * against an all-in-one node this file starts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allInOneEnv } from "./config.js";
import { startAllInOne, type AllInOne } from "./all-in-one.js";
import { randomUUID } from "node:crypto";
import { Socket, signUp, type Account, type Frame } from "./testing/api-client.js";

let node: AllInOne;
let dir: string;
let n = 0;
const name = (prefix: string): string => `${prefix}${Date.now() % 100000}${n++}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-hostile-"));
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>chat</title>");
  const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: web, TEST_LIMITS: "1", HEADERS_TIMEOUT_MS: "1500", REQUEST_TIMEOUT_MS: "2500", SEND_LAG_MAX_MS: "0" });
  // SEND_LAG_MAX_MS off: building finding 4's backlog of 10,000 is faster without admission's
  // push-back on a busy box; admission is not what these tests are about.
  node = await startAllInOne(config);
});

afterAll(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Declares and uploads `bytes` as `content_type`; answers the declaration's status and the download's response. */
async function uploadAs(account: Account, content_type: string, bytes: Buffer): Promise<{ declared: number; download: Response | null }> {
  const created = await account.rest.call("POST", "/api/v1/media", { content_type, size: bytes.length, filename: "x" });
  if (created.status !== 201) return { declared: created.status, download: null };
  const put = await fetch(created.json.upload_url, { method: "PUT", headers: { "content-type": content_type }, body: new Uint8Array(bytes) });
  expect(put.status).toBe(201);
  const info = await account.rest.call("GET", `/api/v1/media/${created.json.media_id}`);
  expect(info.status).toBe(200);
  return { declared: created.status, download: await fetch(info.json.download_url) };
}

/** Raw HTTP over a socket: answers the status line and how long it took, or null if none came. */
function rawRequest(url: string, head: string, body: Buffer, wait_ms: number): Promise<{ status: number | null; text: string; ms: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let text = "";
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m === null ? null : Number(m[1]), text, ms: Date.now() - started });
    };
    const timer = setTimeout(done, wait_ms);
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        const length = /content-length: (\d+)/i.exec(text);
        const bodyAt = text.indexOf("\r\n\r\n") + 4;
        if (length === null || text.length - bodyAt >= Number(length[1])) done();
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", done);
    socket.write(head);
    socket.write(body);
  });
}

describe("finding 1: media are served safely", () => {
  const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/x?"+localStorage.getItem("chat.session"))</script></svg>');

  it("refuses to declare SVG, HTML and other active content", async () => {
    const alice = await signUp(node.url, name("al"));
    for (const type of ["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/javascript"]) {
      const { declared, download } = await uploadAs(alice, type, SVG);
      expect({ type, declared }).toEqual({ type, declared: 415 });
      expect(download).toBeNull();
    }
  });

  it("serves a safe image inline and anything else as an attachment, never sniffed, always sandboxed", async () => {
    const alice = await signUp(node.url, name("al"));
    const png = await uploadAs(alice, "image/png", Buffer.from("\x89PNG fake"));
    expect(png.download?.status).toBe(200);
    expect(png.download?.headers.get("content-type")).toBe("image/png");
    expect(png.download?.headers.get("content-disposition")).toBe("inline");
    expect(png.download?.headers.get("x-content-type-options")).toBe("nosniff");
    expect(png.download?.headers.get("content-security-policy")).toMatch(/(^|;\s*)sandbox(;|$)/);
    const pdf = await uploadAs(alice, "application/pdf", Buffer.from("%PDF-1.4 fake"));
    expect(pdf.download?.headers.get("content-disposition")).toBe("attachment");
    expect(pdf.download?.headers.get("x-content-type-options")).toBe("nosniff");
    expect(pdf.download?.headers.get("content-security-policy")).toMatch(/(^|;\s*)sandbox(;|$)/);
    const text = await uploadAs(alice, "text/plain", SVG);
    expect(text.download?.headers.get("content-disposition")).toBe("attachment");
  });

  it("sends the web page with a Content-Security-Policy header that allows no inline script and no framing", async () => {
    const page = await fetch(`${node.url}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
  });
});

describe("finding 2: every request is bounded before work", () => {
  const MiB = 1024 * 1024;

  it("refuses an upload with a bad signature before reading its body", async () => {
    const head = `PUT /media/mAAAA_bbbb/upload?expires=99999999999999&sig=${"0".repeat(64)} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${20 * MiB}\r\n\r\n`;
    const answer = await rawRequest(node.url, head, Buffer.alloc(1024), 3_000);
    expect(answer.status).toBe(403);
    expect(answer.ms).toBeLessThan(2_000);
    expect(answer.text).toContain('"code":"FORBIDDEN"');
  });

  it("refuses an upload declared larger than its declaration before reading it, and streams at most the declared size", async () => {
    const alice = await signUp(node.url, name("al"));
    const created = await alice.rest.call("POST", "/api/v1/media", { content_type: "image/png", size: 1000, filename: "x.png" });
    expect(created.status).toBe(201);
    const path = String(created.json.upload_url).replace(node.url, "");
    const big = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${20 * MiB}\r\n\r\n`, Buffer.alloc(1024), 3_000);
    expect(big.status).toBe(413);
    expect(big.ms).toBeLessThan(2_000);
    expect(big.text).toContain('"code":"MEDIA_TOO_LARGE"');
    const chunked = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n`, Buffer.from(`800\r\n${"x".repeat(0x800)}\r\n`), 3_000);
    expect(chunked.status).toBe(413);
  });

  it("refuses a part PUT with a bad signature or a body past its part before reading it, and never stores more than the part", async () => {
    const forged = await rawRequest(node.url, `PUT /media/mAAAA_bbbb/parts/1?expires=99999999999999&sig=${"0".repeat(64)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${20 * MiB}\r\n\r\n`, Buffer.alloc(1024), 3_000);
    expect([forged.status, forged.ms < 2_000]).toEqual([403, true]);
    expect(forged.text).toContain('"code":"FORBIDDEN"');
    const alice = await signUp(node.url, name("al"));
    const created = await alice.rest.call("POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: 5 * MiB + 10 });
    expect(created.status).toBe(201);
    const urls = await alice.rest.call("POST", `/api/v1/media/uploads/${created.json.media_id}/parts`, { part_numbers: [2] });
    const path = String(urls.json.parts[0].upload_url).replace(node.url, "");
    const big = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${20 * MiB}\r\n\r\n`, Buffer.alloc(1024), 3_000);
    expect([big.status, big.ms < 2_000]).toEqual([413, true]);
    const chunked = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, Buffer.from(`800\r\n${"x".repeat(0x800)}\r\n`), 3_000);
    expect(chunked.status).toBe(413);
    // The part URL of part 2 does not take part 1's place.
    const moved = await rawRequest(node.url, `PUT ${path.replace("/parts/2?", "/parts/1?")} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n`, Buffer.alloc(10), 3_000);
    expect(moved.status).toBe(403);
    expect((await alice.rest.call("GET", `/api/v1/media/uploads/${created.json.media_id}`)).json.uploaded_parts).toEqual([]);
  });

  it("gives an upload's slot back when its connection drops or is refused midway, so an address can always upload again", async () => {
    // Found with the resumable uploads: the slot was returned under req.ip, which is gone
    // with the socket, so each dropped upload pinned one of the address's 2 slots for good.
    const alice = await signUp(node.url, name("al"));
    for (let i = 0; i < 3; i++) {
      const created = await alice.rest.call("POST", "/api/v1/media", { content_type: "image/png", size: 1000 });
      const path = String(created.json.upload_url).replace(node.url, "");
      const dropped = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`, Buffer.alloc(100), 300);
      expect(dropped.status).toBeNull();
      const refused = await rawRequest(node.url, `PUT ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, Buffer.from(`800\r\n${"x".repeat(0x800)}\r\n`), 3_000);
      expect(refused.status).toBe(413);
    }
    await new Promise((r) => setTimeout(r, 100));
    const created = await alice.rest.call("POST", "/api/v1/media", { content_type: "image/png", size: 4 });
    const put = await fetch(created.json.upload_url, { method: "PUT", body: new Uint8Array([1, 2, 3, 4]) });
    expect([put.status, (await put.text()).slice(0, 100)]).toEqual([201, expect.stringContaining("media_id")]);
  });

  it("answers a JSON route sent another content type 415, and a big JSON body 413, without reading it", async () => {
    for (const [type, status, code] of [["text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"], ["application/json", 413, "BODY_TOO_LARGE"]] as const) {
      const head = `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${20 * MiB}\r\n\r\n`;
      const answer = await rawRequest(node.url, head, Buffer.alloc(1024), 3_000);
      expect({ type, status: answer.status }).toEqual({ type, status });
      expect(answer.ms).toBeLessThan(2_000);
      expect(answer.text).toContain(`"code":"${code}"`);
    }
  });

  it("times out a request whose body never comes, and an upgrade whose headers never end", async () => {
    const slow = await rawRequest(node.url, `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`, Buffer.from("{"), 8_000);
    expect(slow.status).toBe(408);
    expect(slow.ms).toBeLessThan(6_000);
    expect(slow.text).toContain('"code":"REQUEST_TIMEOUT"');
    const half = await rawRequest(node.url, `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n`, Buffer.alloc(0), 8_000);
    expect(half.status).toBe(408);
    expect(half.ms).toBeLessThan(6_000);
  });

  it("rate limits the upload route by address", async () => {
    // In batches of 300 at once until one is refused: one batch is deeper than the bucket (200
    // deep, 50/s) unless it takes over 2 s. Batches of 100 took over 2 s each at load 15, so
    // the bucket refilled as fast as they drained it and the test timed out (on a loaded box,
    // 300 sequential requests never ran dry either).
    const statuses: number[] = [];
    while (!statuses.includes(429) && statuses.length < 3_000) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 300 }, async () => {
            const res = await fetch(`${node.url}/media/mAAAA_bbbb/upload?expires=1&sig=${"0".repeat(64)}`, { method: "PUT", body: "x" });
            await res.arrayBuffer();
            return res.status;
          }),
        )),
      );
    }
    expect(statuses).toContain(429);
    await new Promise((r) => setTimeout(r, 4_500)); // The address's bucket refills for the tests after this one.
  }, 60_000);

  it("answers headers that are too large in the contract's shape", async () => {
    const answer = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`, Buffer.alloc(0), 3_000);
    expect(answer.status).toBe(431);
    expect(answer.text).toContain('"code":"HEADERS_TOO_LARGE"');
  });
});

/**
 * Sends `count` text messages to `to` as fast as the contract allows: bursts of at most 500
 * frames, a retryable error answered by sending again after a pause. Resolves once every one
 * has its `sent`.
 */
async function sendMany(socket: Socket, to: string, count: number): Promise<void> {
  const waiting = new Map<string, string>();
  const retry: string[] = [];
  let sent = 0;
  socket.onFrame((f: Frame) => {
    const id = String(f.data.client_msg_id ?? "");
    if (f.event === "delivery_receipt" && f.data.status === "sent" && waiting.delete(id)) sent++;
    if (f.event === "error" && f.data.retryable === true && waiting.has(id)) retry.push(id);
  });
  for (let i = 0; i < count; i++) waiting.set(randomUUID(), `m${i}`);
  const queue = [...waiting.keys()];
  const deadline = Date.now() + 120_000;
  // The contract's bucket, mirrored: 500 deep, 50 per second (less a margin for clock skew).
  let tokens = 500;
  let at = Date.now();
  while (sent < count) {
    if (Date.now() > deadline) throw new Error(`sendMany: ${sent} of ${count} sent before the deadline`);
    if (socket.closed !== null) throw new Error(`sendMany: closed ${JSON.stringify(socket.closed)}`);
    tokens = Math.min(500, tokens + ((Date.now() - at) * 45) / 1000);
    at = Date.now();
    for (const id of queue.splice(0, Math.floor(tokens))) {
      tokens -= 1;
      socket.send("send_message", { to, content: waiting.get(id), type: "text", client_msg_id: id });
    }
    await new Promise((r) => setTimeout(r, 200));
    queue.push(...retry.splice(0));
  }
}

describe("finding 6: the contract's burst of 500 is honoured", () => {
  it("accepts 500 send_message frames sent at once on a fresh connection without RATE_LIMITED", async () => {
    const alice = await signUp(node.url, name("al"));
    const bob = await signUp(node.url, name("bo"));
    const a = await Socket.open(node.url, alice.token);
    const ids = Array.from({ length: 500 }, () => randomUUID());
    for (const id of ids) a.send("send_message", { to: bob.user_id, content: "burst", type: "text", client_msg_id: id });
    const answered = (f: Frame): boolean => (f.event === "delivery_receipt" && f.data.status === "sent") || f.event === "error";
    await a.waitCount(answered, 500, 60_000);
    const errors = a.frames.filter((f) => f.event === "error");
    expect(errors.filter((f) => f.data.code === "RATE_LIMITED")).toEqual([]);
    // Only a documented, retryable push-back may refuse part of a burst.
    expect(errors.filter((f) => f.data.code !== "OVERLOADED")).toEqual([]);
    expect(a.closed).toBeNull();
    await a.close();
  }, 90_000);
});

describe("finding 4: a client that acks a backlog is never disconnected", () => {
  it("drains a backlog of 10,000 messages on one connection that acks each, without an error or a close", async () => {
    const bob = await signUp(node.url, name("bo"));
    const senders = await Promise.all(Array.from({ length: 20 }, () => signUp(node.url, name("se"))));
    const sockets = await Promise.all(senders.map((s) => Socket.open(node.url, s.token)));
    await Promise.all(sockets.map((socket) => sendMany(socket, bob.user_id, 500)));
    await Promise.all(sockets.map((socket) => socket.close()));

    const b = await Socket.open(node.url, bob.token);
    const seen = new Set<string>();
    b.onFrame((f) => {
      if (f.event !== "new_message") return;
      seen.add(String(f.data.message_id));
      b.send("ack", { message_id: f.data.message_id, status: "delivered" });
    });
    const deadline = Date.now() + 90_000;
    while (seen.size < 10_000 && b.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(b.closed).toBeNull();
    expect(b.frames.filter((f) => f.event === "error").slice(0, 3)).toEqual([]);
    expect(seen.size).toBe(10_000);
    await b.close();
  }, 240_000);
});

/** An HTTP receiver on loopback that records every request it gets. */
async function receiver(): Promise<{ url: string; hits: { path: string; headers: Record<string, unknown>; body: string }[]; close(): Promise<void> }> {
  const { createServer } = await import("node:http");
  const hits: { path: string; headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hits.push({ path: req.url ?? "", headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address() as import("node:net").AddressInfo;
  return { url: `http://127.0.0.1:${address.port}`, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("finding 3: push targets cannot reach the node's own network", () => {
  it("never posts a webhook to a loopback address (by IP or by name) unless an operator allows it", async () => {
    const hook = await receiver();
    try {
      const alice = await signUp(node.url, name("al"));
      const bob = await signUp(node.url, name("bo"));
      const port = new URL(hook.url).port;
      for (const token of [`${hook.url}/by-ip`, `http://localhost:${port}/by-name`, `http://[::ffff:127.0.0.1]:${port}/mapped`]) {
        const registered = await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token });
        expect([201, 422]).toContain(registered.status);
      }
      const a = await Socket.open(node.url, alice.token);
      await sendMany(a, bob.user_id, 1); // retries a documented OVERLOADED, if the box is busy
      await new Promise((r) => setTimeout(r, 1_500));
      expect(hook.hits).toEqual([]);
      await a.close();
    } finally {
      await hook.close();
    }
  });

  it("caps push registrations per user, so one message cannot fan out into hundreds of requests", async () => {
    const bob = await signUp(node.url, name("bo"));
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: `https://push.example/${i}` })).status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(201));
    const refused = await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: "https://push.example/eleven" });
    expect(refused.status).toBe(422);
    expect(refused.json.error.code).toBe("TOO_MANY_DEVICES");
    // Registering one already there again is not a new registration.
    expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: "https://push.example/3" })).status).toBe(201);
  });
});

describe("finding 7: caps per user and per address", () => {
  it("keeps pending rows for at most the newest 10 devices of a user, and retires older devices at connect", async () => {
    const alice = await signUp(node.url, name("al"));
    const bob = await signUp(node.url, name("bo"));
    const { signIn } = await import("./testing/api-client.js");
    const devices = [bob];
    for (let i = 0; i < 14; i++) devices.push(await signIn(node.url, bob.username));
    const a = await Socket.open(node.url, alice.token);
    await a.sendText(bob.user_id, "how many copies?");
    await a.close();
    await new Promise((r) => setTimeout(r, 300));
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(dir, "chat.sqlite3"), { readonly: true, fileMustExist: true });
    const rows = db.prepare("SELECT count(DISTINCT device_id) AS n FROM pending WHERE user_id = ?").get(bob.user_id) as { n: number };
    db.close();
    expect(rows.n).toBe(10);
    // The oldest device was retired: its token no longer opens a connection; the newest does.
    await expect(Socket.open(node.url, devices[0]!.token)).rejects.toThrow(/401/);
    const newest = await Socket.open(node.url, devices.at(-1)!.token);
    await newest.wait((f) => f.event === "new_message");
    await newest.close();
  });

  it("refuses a user's WebSocket connections past the cap at the upgrade, with 429", async () => {
    const alice = await signUp(node.url, name("al"));
    const sockets: Socket[] = [];
    let refused: string | null = null;
    for (let i = 0; i < 40 && refused === null; i++) {
      try {
        sockets.push(await Socket.open(node.url, alice.token));
      } catch (error) {
        refused = String(error);
      }
    }
    expect(sockets.length).toBe(32);
    expect(refused).toContain("429");
    // One closes: a new one is admitted again.
    await sockets.pop()!.close();
    await new Promise((r) => setTimeout(r, 100));
    sockets.push(await Socket.open(node.url, alice.token));
    await Promise.all(sockets.map((s) => s.close()));
  });
});

describe("finding 8: smaller holes", () => {
  it("sends the close frame with its code before the socket goes (1009 for a frame too large, not 1006)", async () => {
    const alice = await signUp(node.url, name("al"));
    const a = await Socket.open(node.url, alice.token);
    // Still writing when the server refuses it: a terminate then cut the close frame off.
    a.raw("x".repeat(8 * 1024 * 1024));
    const deadline = Date.now() + 5_000;
    while (a.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(a.closed?.code).toBe(1009);
  });

  it("accepts a token only in its one canonical spelling", async () => {
    const alice = await signUp(node.url, name("al"));
    const ok = await fetch(`${node.url}/api/v1/users/${alice.user_id}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(ok.status).toBe(200);
    const [v, payload, mac] = alice.token.split(".") as [string, string, string];
    // The last base64url character of a 32-byte MAC carries 2 spare bits: flip them.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(mac.at(-1)!);
    const spare = `${mac.slice(0, -1)}${alphabet[(last & ~3) | ((last + 1) & 3)]}`;
    for (const token of [`${alice.token}A`, `${alice.token}=`, `${v}.${payload}.${spare}`, `${v}.${payload}=.${mac}`]) {
      const res = await fetch(`${node.url}/api/v1/users/${alice.user_id}`, { headers: { authorization: `Bearer ${token}` } });
      expect({ token, status: res.status }).toEqual({ token, status: 401 });
    }
  });

  it("throttles sign-in per account, so a flood of wrong passwords neither works nor slows another user's sign-in", async () => {
    const victim = await signUp(node.url, name("vi"));
    const other = name("ot");
    await signUp(node.url, other);
    const attempt = (username: string, password: string, local?: string): Promise<{ status: number; ms: number }> =>
      new Promise((ok, no) => {
        const started = Date.now();
        const body = JSON.stringify({ username, password });
        const url = new URL(`${node.url}/api/v1/sessions`);
        import("node:http").then(({ request }) => {
          const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", localAddress: local, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
            res.resume();
            res.on("end", () => ok({ status: res.statusCode ?? 0, ms: Date.now() - started }));
          });
          req.on("error", no);
          req.end(body);
        }, no);
      });
    const flood = Array.from({ length: 48 }, () => attempt(victim.username, "wrong password!!"));
    await new Promise((r) => setTimeout(r, 20));
    const real = await attempt(other, "correct horse battery", "127.0.0.2");
    const outcomes = await Promise.all(flood);
    expect(real.status).toBe(200);
    expect(real.ms).toBeLessThan(1_000);
    expect(outcomes.filter((o) => o.status === 429).length).toBeGreaterThan(40);
    expect(outcomes.filter((o) => o.status === 200)).toEqual([]);
  });

  it("keeps the database file readable by its owner only", async () => {
    const { statSync, readdirSync } = await import("node:fs");
    const files = readdirSync(dir).filter((f) => f.startsWith("chat.sqlite3"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect({ f, mode: (statSync(join(dir, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: "600" });
  });
});

describe("authorization: every endpoint and frame refuses outsiders", () => {
  it("answers 401 to every call but sign-up and sign-in without a token, and refuses the upgrade", async () => {
    const anon = new (await import("./testing/api-client.js")).Rest(node.url);
    const calls: [string, string, unknown?][] = [
      ["GET", "/api/v1/users?username=someone"],
      ["GET", "/api/v1/users/u1"],
      ["GET", "/api/v1/users/u1/presence"],
      ["POST", "/api/v1/devices", { platform: "webhook", token: "https://push.example/x" }],
      ["GET", "/api/v1/conversations"],
      ["GET", "/api/v1/conversations/d.u1.u2/messages"],
      ["POST", "/api/v1/groups", { name: "g", member_ids: [] }],
      ["GET", "/api/v1/groups/g1"],
      ["POST", "/api/v1/groups/g1/members", { user_ids: ["u1"] }],
      ["DELETE", "/api/v1/groups/g1/members/u1"],
      ["POST", "/api/v1/media", { content_type: "image/png", size: 10 }],
      ["GET", "/api/v1/media/m1"],
      ["POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: 10 }],
      ["GET", "/api/v1/media/uploads/m1"],
      ["POST", "/api/v1/media/uploads/m1/parts", { part_numbers: [1] }],
      ["POST", "/api/v1/media/uploads/m1/complete"],
      ["DELETE", "/api/v1/media/uploads/m1"],
      ["DELETE", "/api/v1/sessions/current"],
      ["DELETE", "/api/v1/sessions/d1"],
      ["PUT", "/api/v1/users/me/password", { current_password: "correct horse battery", new_password: "another long password" }],
    ];
    for (const [method, path, body] of calls) {
      const res = await anon.call(method, path, body);
      expect({ method, path, status: res.status, code: res.json?.error?.code }).toEqual({ method, path, status: 401, code: "UNAUTHENTICATED" });
    }
    await expect(Socket.open(node.url, "v1.e30.AAAA")).rejects.toThrow(/401/);
  });

  it("refuses a signed-in outsider every conversation, group and media it is not part of, over REST and frames", async () => {
    const alice = await signUp(node.url, name("al"));
    const bob = await signUp(node.url, name("bo"));
    const eve = await signUp(node.url, name("ev"));
    const group = await alice.rest.call("POST", "/api/v1/groups", { name: "private", member_ids: [bob.user_id] });
    expect(group.status).toBe(201);
    const bytes = Buffer.from("\x89PNG secret");
    const media = await alice.rest.call("POST", "/api/v1/media", { content_type: "image/png", size: bytes.length });
    expect((await fetch(media.json.upload_url, { method: "PUT", body: new Uint8Array(bytes) })).status).toBe(201);
    const a = await Socket.open(node.url, alice.token);
    const sent = await a.sendText(bob.user_id, "for bob only");
    const refusals: [string, string, unknown?][] = [
      ["GET", `/api/v1/conversations/${sent.conversation_id}/messages`],
      ["GET", `/api/v1/groups/${group.json.group_id}`],
      ["POST", `/api/v1/groups/${group.json.group_id}/members`, { user_ids: [eve.user_id] }],
      ["DELETE", `/api/v1/groups/${group.json.group_id}/members/${bob.user_id}`],
      ["GET", `/api/v1/conversations/${group.json.conversation_id}/messages`],
      ["GET", `/api/v1/media/${media.json.media_id}?conversation_id=${sent.conversation_id}`],
    ];
    for (const [method, path, body] of refusals) {
      const res = await eve.rest.call(method, path, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
    }
    const e = await Socket.open(node.url, eve.token);
    e.send("send_group_message", { group_id: group.json.group_id, content: "let me in", type: "text", client_msg_id: randomUUID() });
    await e.wait((f) => f.event === "error" && f.data.code === "NOT_A_MEMBER");
    e.send("typing", { group_id: group.json.group_id });
    e.send("ack", { message_id: sent.message_id, status: "read", conversation_id: sent.conversation_id });
    await new Promise((r) => setTimeout(r, 500));
    // Alice heard nothing from eve: no typing, no receipt in bob's name or eve's.
    expect(a.frames.filter((f) => f.event === "typing" || (f.event === "delivery_receipt" && f.data.status !== "sent"))).toEqual([]);
    await Promise.all([a.close(), e.close()]);
  });
});
