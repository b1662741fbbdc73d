/**
 * Issue 14 (finding 8, "tokens ... cannot be revoked", and finding 7, "each getting a pending
 * row per message forever"): sign-out, password change and retired devices, against an
 * all-in-one node this file starts. A revoked token is refused on REST and at the upgrade,
 * an open socket of its device closes with 4001, and a retired device keeps no pending rows,
 * while the user's live devices still get every message.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allInOneEnv } from "./config.js";
import { startAllInOne, type AllInOne } from "./all-in-one.js";
import { Rest, Socket, signIn, signUp, type Account } from "./testing/api-client.js";
import { Database as SqliteDatabase } from "../adapters/sqlite/database.js";
import { PendingStoreSqlite } from "../adapters/sqlite/pending-store-sqlite.js";

let node: AllInOne;
let dir: string;
let n = 0;
const name = (prefix: string): string => `${prefix}${Date.now() % 100000}${n++}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-sessions-"));
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>chat</title>");
  node = await startAllInOne(allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: web, TEST_LIMITS: "1", SEND_LAG_MAX_MS: "0" }));
});

afterAll(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Pending rows per device of `user_id`, read from the node's file. */
function pendingRows(user_id: string): Map<string, number> {
  const db = new Database(join(dir, "chat.sqlite3"), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT device_id, count(*) AS n FROM pending WHERE user_id = ? GROUP BY device_id").all(user_id) as { device_id: string; n: number }[];
    return new Map(rows.map((r) => [r.device_id, r.n]));
  } finally {
    db.close();
  }
}

/** Waits for the socket to be closed and answers its close code. */
async function closedWith(socket: Socket, timeout_ms = 5_000): Promise<number> {
  const deadline = Date.now() + timeout_ms;
  while (socket.closed === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return socket.closed?.code ?? -1;
}

const inbox = (account: Account): Promise<{ status: number; json: any }> => account.rest.call("GET", "/api/v1/conversations");

describe("sign-out", () => {
  it("revokes the device's token on REST and at the upgrade, closes its open socket with 4001, and leaves the user's other devices alone", async () => {
    const phone = await signUp(node.url, name("so"));
    const laptop = await signIn(node.url, phone.username);
    const open = await Socket.open(node.url, phone.token);
    const other = await Socket.open(node.url, laptop.token);
    expect((await inbox(phone)).status).toBe(200);

    const out = await phone.rest.call("DELETE", "/api/v1/sessions/current");
    expect(out.status).toBe(204);
    expect(await closedWith(open)).toBe(4001);
    const refused = await inbox(phone);
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe("TOKEN_REVOKED");
    await expect(Socket.open(node.url, phone.token)).rejects.toThrow(/401/);
    // The same sign-out again: the device is gone, so is the token.
    expect((await phone.rest.call("DELETE", "/api/v1/sessions/current")).status).toBe(401);

    expect((await inbox(laptop)).status).toBe(200);
    expect(other.closed).toBeNull();
    await other.close();
  });

  it("signs out another of one's own devices by ID, and no one else's (404)", async () => {
    const a = await signUp(node.url, name("sa"));
    const a2 = await signIn(node.url, a.username);
    const b = await signUp(node.url, name("sb"));
    const foreign = await a.rest.call("DELETE", `/api/v1/sessions/${b.device_id}`);
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.code).toBe("NOT_FOUND");
    expect((await inbox(b)).status).toBe(200);
    expect((await a.rest.call("DELETE", `/api/v1/sessions/${a2.device_id}`)).status).toBe(204);
    expect((await inbox(a2)).json.error.code).toBe("TOKEN_REVOKED");
    expect((await inbox(a)).status).toBe(200);
    expect((await new Rest(node.url).call("DELETE", `/api/v1/sessions/${a.device_id}`)).status).toBe(401);
  });
});

describe("password change", () => {
  it("needs the current password, then revokes every token of the user (REST, upgrade, open sockets) and answers a fresh session", async () => {
    const phone = await signUp(node.url, name("pw"));
    const laptop = await signIn(node.url, phone.username);
    const sockets = [await Socket.open(node.url, phone.token), await Socket.open(node.url, laptop.token)];

    const wrong = await phone.rest.call("PUT", "/api/v1/users/me/password", { current_password: "not the password", new_password: "a new long password" });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.code).toBe("WRONG_PASSWORD");
    expect((await inbox(laptop)).status).toBe(200);

    const missing = await phone.rest.call("PUT", "/api/v1/users/me/password", { new_password: "a new long password" });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe("MISSING_FIELD");
    const short = await phone.rest.call("PUT", "/api/v1/users/me/password", { current_password: "correct horse battery", new_password: "short" });
    expect(short.status).toBe(400);
    expect(typeof short.json.error.code).toBe("string");

    const changed = await phone.rest.call("PUT", "/api/v1/users/me/password", { current_password: "correct horse battery", new_password: "a new long password" });
    expect(changed.status).toBe(200);
    expect(Object.keys(changed.json).sort()).toEqual(["device_id", "expires_at", "token", "user_id"]);
    for (const s of sockets) expect(await closedWith(s)).toBe(4001);
    for (const old of [phone, laptop]) {
      const r = await inbox(old);
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("TOKEN_REVOKED");
      await expect(Socket.open(node.url, old.token)).rejects.toThrow(/401/);
    }
    expect((await new Rest(node.url, changed.json.token).call("GET", "/api/v1/conversations")).status).toBe(200);
    const fresh = await Socket.open(node.url, changed.json.token);
    await fresh.close();
    await expect(signIn(node.url, phone.username)).rejects.toThrow(/401/);
    expect((await signIn(node.url, phone.username, "a new long password")).user_id).toBe(phone.user_id);
  });
});

describe("retired devices keep no pending rows", () => {
  it("drops a device's pending rows when newer sign-ins retire it or it signs out, and the live devices still get every message", async () => {
    const alice = await signUp(node.url, name("ra"));
    const bob = await signUp(node.url, name("rb"));
    const a = await Socket.open(node.url, alice.token);
    for (const text of ["one", "two", "three"]) await a.sendText(bob.user_id, text);
    const waitRows = async (device_id: string, rows: number): Promise<void> => {
      const deadline = Date.now() + 5_000;
      while ((pendingRows(bob.user_id).get(device_id) ?? 0) !== rows && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    };
    await waitRows(bob.device_id, 3);
    expect(pendingRows(bob.user_id).get(bob.device_id)).toBe(3);

    // Ten newer sign-ins retire bob's first device: its three rows go with it.
    const newer: Account[] = [];
    for (let i = 0; i < 10; i++) newer.push(await signIn(node.url, bob.username));
    expect(pendingRows(bob.user_id).get(bob.device_id)).toBeUndefined();

    // A message now is pending for the ten current devices only; one of them signs out and
    // its row goes too.
    await a.sendText(bob.user_id, "four");
    await waitRows(newer[0]!.device_id, 1);
    expect(pendingRows(bob.user_id).size).toBe(10);
    expect((await newer[0]!.rest.call("DELETE", "/api/v1/sessions/current")).status).toBe(204);
    const rows = pendingRows(bob.user_id);
    expect(rows.size).toBe(9);
    expect(rows.has(newer[0]!.device_id)).toBe(false);

    // Zero loss for the live devices: the newest still gets "four" on connect.
    const live = await Socket.open(node.url, newer.at(-1)!.token);
    const got = await live.wait((f) => f.event === "new_message" && f.data.content === "four");
    expect(got.data.content).toBe("four");
    await live.close();
    await a.close();
  });
});

describe("a pending row put for a device after it was retired", () => {
  it("is dropped when the node starts again, even when it stopped within the settle window (before the second sweep)", async () => {
    // The race: a router read bob's device list just before the device was signed out, and its
    // put landed after the sign-out's sweep. The sweep runs once more 60 s later, in memory; a
    // node that stops before then used to leave that row for good (nobody can read it).
    const own = mkdtempSync(join(tmpdir(), "chat-sessions-restart-"));
    const web = join(own, "web");
    mkdirSync(web);
    writeFileSync(join(web, "index.html"), "<!doctype html><title>chat</title>");
    const config = allInOneEnv.parse({ PORT: "0", DATA_DIR: own, LOG_LEVEL: "silent", WEB_DIR: web, TEST_LIMITS: "1", SEND_LAG_MAX_MS: "0" });
    const rows = (user_id: string): number => {
      const db = new Database(join(own, "chat.sqlite3"), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare("SELECT count(*) AS n FROM pending WHERE user_id = ?").get(user_id) as { n: number }).n;
      } finally {
        db.close();
      }
    };
    try {
      let first: AllInOne | null = await startAllInOne(config);
      const alice = await signUp(first.url, name("la"));
      const bob = await signUp(first.url, name("lb"));
      const phone = await signIn(first.url, bob.username);
      expect((await phone.rest.call("DELETE", "/api/v1/sessions/current")).status).toBe(204);
      await first.stop();
      first = null;

      // The late put, as the router would have written it, committed before the node stopped.
      const file = SqliteDatabase.open(join(own, "chat.sqlite3"));
      const late = new PendingStoreSqlite(file);
      const message = { message_id: "0000000000000000001", conversation_id: "dm_late", sender_id: alice.user_id, sender_device_id: alice.device_id, group_id: null, content: "late", type: "text" as const, client_msg_id: "00000000-0000-4000-8000-000000000001", sent_at_ms: 1, prev_message_id: null };
      await late.put([{ user_id: bob.user_id, device_id: phone.device_id, message }, { user_id: bob.user_id, device_id: bob.device_id, message }]);
      await late.close();
      await file.close();
      expect(rows(bob.user_id)).toBe(2);

      const second = await startAllInOne(config);
      try {
        // The signed-out device's row is gone (collected in the background at start); the live
        // device keeps its own.
        const deadline = Date.now() + 10_000;
        while (rows(bob.user_id) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        expect(rows(bob.user_id)).toBe(1);
        const live = await Socket.open(second.url, bob.token);
        expect((await live.wait((f) => f.event === "new_message" && f.data.content === "late")).data.content).toBe("late");
        await live.close();
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  }, 60_000);
});
