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
  const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: web, TEST_LIMITS: "1" });
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
