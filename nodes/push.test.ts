/**
 * The push configuration (nodes/push.ts): half a provider is refused at start with a sentence
 * naming what is missing; a configured one is built from its key files, a bad file stops the
 * node at start; a registration the provider calls gone is deleted from the directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectoryMemory } from "../adapters/memory/directory-memory.js";
import { parseEnv } from "./config.js";
import { allInOneEnv } from "./config.js";
import { routerEnv } from "./production.js";
import { openPush, pushEnv } from "./push.js";
import { startPushStandIns, type PushStandIns } from "./testing/push-stand-ins.js";

const SECRET = "s".repeat(32);
let dir: string;
let stand_ins: PushStandIns;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "push-config-"));
  stand_ins = await startPushStandIns(dir);
});
afterAll(async () => {
  await stand_ins.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("push configuration", () => {
  it.each([
    [{ APNS_KEY_FILE: "/k.p8", APNS_KEY_ID: "ABC123DEFG" }, "APNS_TEAM_ID", "APNs needs all four"],
    [{ APNS_KEY_ID: "abc" }, "APNS_KEY_ID", "10-character"],
    [{ VAPID_PUBLIC_KEY: "x" }, "VAPID_PRIVATE_KEY", "other VAPID key"],
    [{ APNS_ENDPOINT: "http://api.push.apple.com" }, "APNS_ENDPOINT", ""],
    [{ PUSH_CONTENT_FREE: "maybe" }, "PUSH_CONTENT_FREE", ""],
  ])("refuses %j, naming %s, in both the router and the all-in-one node", (env, name, hint) => {
    for (const schema of [routerEnv, allInOneEnv]) {
      const c = parseEnv(schema, { ROUTER_ID: "r1", ...env });
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.message).toContain(name);
      if (!c.ok) expect(c.message).toContain(hint);
    }
  });

  it("builds APNs and FCM providers from their files, and deletes a registration the service calls gone", async () => {
    const config = pushEnv.parse(stand_ins.env);
    const directory = new DirectoryMemory();
    const push = openPush(config, SECRET, directory);
    const token = "ab".repeat(32);
    await directory.registerPush("u_bob", { platform: "apns", token });
    const notification = { user_id: "u_bob", conversation_id: "d.u_alice.u_bob", message_id: "0000060000000004096", from: "u_alice", group_id: null, preview: null };
    await push.notify({ platform: "apns", token }, notification);
    expect(stand_ins.apns.acceptedFor(token)).toHaveLength(1);
    stand_ins.apns.unregistered.add(token);
    await expect(push.notify({ platform: "apns", token }, notification)).rejects.toMatchObject({ code: "PUSH_TARGET_GONE" });
    expect(await directory.pushTargets("u_bob")).toEqual([]);
    await push.notify({ platform: "fcm", token: "f".repeat(40) }, notification);
    expect(stand_ins.fcm.acceptedFor("f".repeat(40))).toHaveLength(1);
  });

  it("stops at start on an unreadable or wrong key file, naming it", () => {
    const bad = join(dir, "bad.p8");
    writeFileSync(bad, "not a key");
    const base = pushEnv.parse(stand_ins.env);
    expect(() => openPush({ ...base, APNS_KEY_FILE: join(dir, "missing.p8") }, SECRET, new DirectoryMemory())).toThrow(/APNS_KEY_FILE: cannot read/);
    expect(() => openPush({ ...base, APNS_KEY_FILE: bad }, SECRET, new DirectoryMemory())).toThrow(/PushApns: the private key is not a PEM/);
    expect(() => openPush({ ...base, FCM_SERVICE_ACCOUNT_FILE: bad }, SECRET, new DirectoryMemory())).toThrow(/service account is not JSON/);
  });
});
