/**
 * Nothing acknowledged is lost across kill -9: a node process takes a stream of sends, is
 * killed with SIGKILL mid-stream, restarts on the same DATA_DIR, and every message that had
 * been answered `sent` reaches the recipient exactly once (the unanswered ones are retried
 * with their client_msg_id, as a client would, and map to one message each).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { Socket, signUp } from "./testing/api-client.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "chat-kill9-"));
const children: ChildProcess[] = [];

function startNode(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "nodes/all-in-one.ts")], {
    cwd: root,
    env: { ...process.env, PORT: "0", DATA_DIR: dir, LOG_LEVEL: "warn", WEB_DIR: join(dir, "no-web") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return new Promise((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`node did not start in 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /open (http:\/\/[0-9.:]+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolveUrl({ child, url: m[1]! });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => reject(new Error(`node exited with ${code}: ${out}`)));
  });
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

it("every message answered `sent` before a kill -9 is delivered exactly once after restart", async () => {
  const first = await startNode();
  const alice = await signUp(first.url, `alice${Date.now() % 100000}`);
  const bob = await signUp(first.url, `bob${Date.now() % 100000}`);
  const a = await Socket.open(first.url, alice.token);
  const TOTAL = 400;
  const ids = Array.from({ length: TOTAL }, () => randomUUID());
  const acked = new Map<string, string>(); // client_msg_id -> message_id
  a.ws.on("message", (data) => {
    const f = JSON.parse(data.toString()) as { event: string; data: { status?: string; client_msg_id?: string; message_id?: string } };
    if (f.event === "delivery_receipt" && f.data.status === "sent") acked.set(f.data.client_msg_id!, f.data.message_id!);
  });
  // Pipelined: many sends in flight, as a busy node would see them.
  for (const [i, id] of ids.entries()) a.send("send_message", { to: bob.user_id, content: `n${i}`, type: "text", client_msg_id: id });
  const deadline = Date.now() + 20_000;
  while (acked.size < TOTAL / 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  first.child.kill("SIGKILL");
  await new Promise((r) => first.child.once("exit", r));
  const before = new Map(acked);
  expect(before.size).toBeGreaterThan(0);

  const second = await startNode();
  // Same devices, same tokens: the node's secret lives in DATA_DIR, so tokens survive restarts.
  const a2 = await Socket.open(second.url, alice.token);
  // The client retries everything it had no answer for, with the same client_msg_id.
  const retried = ids.filter((id) => !before.has(id));
  const after = new Map<string, string>();
  for (const id of ids) {
    const i = ids.indexOf(id);
    after.set(id, (await a2.sendText(bob.user_id, `n${i}`, id)).message_id);
  }
  // An acknowledged message keeps its ID; a retried one maps to exactly one message.
  for (const [id, message_id] of before) expect(after.get(id)).toBe(message_id);
  const b = await Socket.open(second.url, bob.token);
  const got = await b.waitCount((f) => f.event === "new_message", TOTAL, 30_000);
  await new Promise((r) => setTimeout(r, 300));
  const received = b.messages().map((f) => String(f.data.message_id));
  expect(new Set(received).size).toBe(received.length); // no repeats on this connection
  expect(new Set(received)).toEqual(new Set(after.values()));
  expect(got.length).toBe(TOTAL);
  console.log(`kill -9 after ${before.size} of ${TOTAL} sends were acknowledged; ${retried.length} retried; ${received.length} delivered once each`);
  await Promise.all([a2.close(), b.close()]);
  second.child.kill("SIGTERM");
  await new Promise((r) => second.child.once("exit", r));
  expect(second.child.exitCode).toBe(0);
}, 120_000);
