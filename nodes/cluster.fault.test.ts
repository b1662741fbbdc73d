/**
 * The fault run's own parts that need no cluster: reading a device's pending entries back
 * through a PendingStore adapter (every page), and what a run that does not quiesce reports
 * as left, and where.
 */
import { expect, it } from "vitest";
import { PendingStoreMemory } from "../adapters/memory/pending-store-memory.js";
import type { PendingEntry } from "../core/model.js";
import { pendingReader, whatIsLeft } from "./cluster.fault.js";
import type { Account } from "./testing/api-client.js";
import type { Socket } from "./testing/api-client.js";
import { HistoryDevice } from "./testing/history-device.js";

const entry = (user_id: string, device_id: string, conversation_id: string, n: number): PendingEntry => ({
  user_id,
  device_id,
  message: { message_id: `1${String(n).padStart(18, "0")}`, conversation_id, sender_id: "bob", sender_device_id: "bob-1", group_id: null, content: `m${n}`, type: "text", client_msg_id: `c${n}`, sent_at_ms: n, prev_message_id: null },
});

it("reads every pending entry of a device back, across pages and conversations", async () => {
  const store = new PendingStoreMemory();
  const entries = Array.from({ length: 1_201 }, (_, n) => entry("alice", "a-1", `d.alice.c${n % 3}`, n));
  await store.put([...entries, entry("alice", "a-2", "d.alice.bob", 5_000)]);
  const reader = pendingReader(store, "memory", () => store.close());
  const listed = await reader.list({ user_id: "alice", device_id: "a-1" });
  expect(listed).toHaveLength(1_201);
  expect(new Set(listed.map((e) => e.message_id)).size).toBe(1_201);
  expect(await reader.list({ user_id: "alice", device_id: "a-2" })).toEqual([{ conversation_id: "d.alice.bob", message_id: "1000000000000005000", from: "bob" }]);
  await reader.close();
});

it("a run that is not quiescent names each pending entry left, its device, its gateway and the store", async () => {
  const store = new PendingStoreMemory();
  await store.put([entry("alice", "a-1", "d.alice.bob", 7)]);
  const account = { user_id: "alice", username: "alice_1", token: "t", device_id: "a-1", rest: null } as unknown as Account;
  const device = new HistoryDevice(account, "a-1", "t", 1, "prompt", ["http://127.0.0.1:1", "http://127.0.0.1:2"], () => 0, () => 0.5);
  device.socket = {} as Socket; // connected, as far as the report is concerned
  const away = new HistoryDevice(account, "a-2", "t", 0, "prompt", ["http://127.0.0.1:1"], () => 0, () => 0.5);
  const left = await whatIsLeft([device, away], new Set(), pendingReader(store, "Cassandra chat_x.pending", async () => undefined), [account]);
  expect(left).toEqual([
    "alice_1/a-2: not connected (last connection 0 on gw-0)",
    "Cassandra chat_x.pending: message 1000000000000000007 of d.alice.bob from bob still pending for alice_1/a-1, connected to gw-1 (connection 0)",
  ]);
  // A device gone for good on purpose is not waited for.
  expect(await whatIsLeft([away], new Set([away]), pendingReader(store, "x", async () => undefined), [account])).toEqual([]);
});
