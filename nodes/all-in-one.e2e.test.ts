/**
 * End-to-end over real HTTP and WebSocket against an all-in-one node started by the test,
 * driven by a client written from docs/API.md alone (nodes/testing/e2e-suite.ts), plus what
 * is particular to this node (its /healthz and /metrics).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allInOneEnv } from "./config.js";
import { startAllInOne, type AllInOne } from "./all-in-one.js";
import { registerE2E } from "./testing/e2e-suite.js";
import { startPushStandIns, type PushStandIns } from "./testing/push-stand-ins.js";

let node: AllInOne;
let dir: string;
let push: PushStandIns;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-e2e-"));
  push = await startPushStandIns(dir);
  const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: join(dir, "no-web"), TEST_LIMITS: "1", ...push.env });
  node = await startAllInOne(config);
});

afterAll(async () => {
  await node.stop();
  await push.close();
  rmSync(dir, { recursive: true, force: true });
});

registerE2E("all-in-one", () => ({ api: node.url, gateways: [node.url], push, media: "folder" }));

describe("all-in-one: operations", () => {
  it("serves /healthz and Prometheus /metrics", async () => {
    const health = await fetch(`${node.url}/healthz`);
    expect(await health.json()).toEqual({ status: "ok" });
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/chat_sends_total \d+/);
    expect(metrics).toContain("chat_send_to_sent_seconds_bucket");
    expect(metrics).toContain("chat_delivery_seconds_bucket");
    expect(metrics).toMatch(/chat_pending_entries \d+/);
  });
});
