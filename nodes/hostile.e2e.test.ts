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
import { signUp, type Account } from "./testing/api-client.js";

let node: AllInOne;
let dir: string;
let n = 0;
const name = (prefix: string): string => `${prefix}${Date.now() % 100000}${n++}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-hostile-"));
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>chat</title>");
  const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: web, TEST_LIMITS: "1", HEADERS_TIMEOUT_MS: "1500", REQUEST_TIMEOUT_MS: "2500" });
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
    const statuses: number[] = [];
    for (let i = 0; i < 260; i++) {
      const res = await fetch(`${node.url}/media/mAAAA_bbbb/upload?expires=1&sig=${"0".repeat(64)}`, { method: "PUT", body: "x" });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses).toContain(429);
    await new Promise((r) => setTimeout(r, 4_500)); // The address's bucket refills for the tests after this one.
  });

  it("answers headers that are too large in the contract's shape", async () => {
    const answer = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`, Buffer.alloc(0), 3_000);
    expect(answer.status).toBe(431);
    expect(answer.text).toContain('"code":"HEADERS_TOO_LARGE"');
  });
});
