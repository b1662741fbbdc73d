/**
 * Issue 14 finding 5: one key for two purposes. Whoever verifies webhooks must not be able to
 * mint tokens: webhooks are signed with a key of their own (PUSH_WEBHOOK_SECRET, or one
 * derived from SECRET for that purpose alone), and so are tokens and media URLs.
 */
import { createHmac, hkdfSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyWebhookSignature } from "../adapters/push/push-webhook.js";
import { startAllInOne, type AllInOne } from "./all-in-one.js";
import { allInOneEnv } from "./config.js";
import { Rest, Socket, signUp } from "./testing/api-client.js";

const SECRET = "the-node-secret-of-this-test-0123456789abcdef";
/** The documented derivation (docs/OPERATIONS.md), written out here from the docs. */
const derived = (purpose: string): Buffer => Buffer.from(hkdfSync("sha256", SECRET, "", `provable-chat ${purpose} v1`, 32));

let node: AllInOne;
let dir: string;
let hook: Server;
const hits: { body: string; signature: string }[] = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hits.push({ body, signature: String(req.headers["x-chat-signature"]) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  dir = mkdtempSync(join(tmpdir(), "chat-keys-"));
  const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: join(dir, "no-web"), TEST_LIMITS: "1", SECRET, PUSH_PRIVATE_TARGETS_ALLOWED: "127.0.0.0/8", METRICS_TOKEN: "metrics-token-0123456789" });
  node = await startAllInOne(config);
});

afterAll(async () => {
  await node.stop();
  await new Promise<void>((r) => hook.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function forge(key: Buffer | string, user_id: string, device_id: string): string {
  const payload = Buffer.from(JSON.stringify({ u: user_id, d: device_id, e: Date.now() + 3_600_000 })).toString("base64url");
  return `v1.${payload}.${createHmac("sha256", key).update(`v1.${payload}`).digest("base64url")}`;
}

describe("finding 5: separate keys per purpose", () => {
  it("signs webhooks with a key that cannot mint tokens", async () => {
    const alice = await signUp(node.url, `al${Date.now() % 100000}`);
    const bob = await signUp(node.url, `bo${Date.now() % 100000}`);
    const port = (hook.address() as AddressInfo).port;
    expect((await bob.rest.call("POST", "/api/v1/devices", { platform: "webhook", token: `http://127.0.0.1:${port}/hook` })).status).toBe(201);
    const a = await Socket.open(node.url, alice.token);
    await a.sendText(bob.user_id, "ping");
    const deadline = Date.now() + 10_000;
    while (hits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await a.close();
    expect(hits.length).toBeGreaterThan(0);
    const { body, signature } = hits[0]!;
    // The webhook key is not the node's secret, and is the documented derivation of it.
    expect(verifyWebhookSignature(SECRET, body, signature)).toBe(false);
    const webhook_key = derived("webhook-signing");
    expect(verifyWebhookSignature(webhook_key, body, signature)).toBe(true);
    // Whoever holds it (every webhook receiver) cannot sign in as anyone.
    const forged = new Rest(node.url, forge(webhook_key, alice.user_id, alice.device_id));
    expect((await forged.call("GET", `/api/v1/users/${bob.user_id}`)).status).toBe(401);
    // Nor can whoever holds only the raw secret's HMAC form of old.
    expect((await new Rest(node.url, forge(SECRET, alice.user_id, alice.device_id)).call("GET", `/api/v1/users/${bob.user_id}`)).status).toBe(401);
    // The token key is its own derivation: a token made with it is the real thing.
    expect((await new Rest(node.url, forge(derived("tokens"), alice.user_id, alice.device_id)).call("GET", `/api/v1/users/${bob.user_id}`)).status).toBe(200);
  });
});

describe("finding 8: /metrics can be kept to those who hold its token", () => {
  it("answers /metrics only with METRICS_TOKEN as a bearer token, in the contract's shape otherwise", async () => {
    const without = await fetch(`${node.url}/metrics`);
    expect(without.status).toBe(401);
    expect(((await without.json()) as { error: { code: string } }).error.code).toBe("UNAUTHENTICATED");
    expect((await fetch(`${node.url}/metrics`, { headers: { authorization: "Bearer metrics-token-0123456788" } })).status).toBe(401);
    const bearing = await fetch(`${node.url}/metrics`, { headers: { authorization: "Bearer metrics-token-0123456789" } });
    expect(bearing.status).toBe(200);
    expect(await bearing.text()).toContain("chat_sends_total");
  });
});
