/**
 * DeviceSessions on the in-memory directory and pending store: which devices are current, and
 * what retiring one does (directory, sockets, pending entries), for each way a device retires.
 */
import { describe, expect, it } from "vitest";
import { DirectoryMemory } from "../adapters/memory/directory-memory.js";
import { PendingStoreMemory } from "../adapters/memory/pending-store-memory.js";
import { defaultLimits } from "../core/limits.js";
import type { PendingEntry } from "../core/model.js";
import { DeviceSessions } from "./sessions.js";

const limits = { ...defaultLimits(), devicesPerUserMax: 3, tokenTtlMs: 1_000 };

function entry(user_id: string, device_id: string, n: number): PendingEntry {
  return {
    user_id,
    device_id,
    message: {
      message_id: String(7_000_000_000_000_000_000n + BigInt(n)),
      conversation_id: "d.u1.u2",
      sender_id: "u2",
      sender_device_id: "x",
      group_id: null,
      content: `m${n}`,
      type: "text",
      client_msg_id: `c${n}`,
      sent_at_ms: n,
      prev_message_id: null,
    },
  };
}

async function setup() {
  const directory = new DirectoryMemory();
  const pending = new PendingStoreMemory();
  await directory.createUser({ user_id: "u1", username: "one", password_hash: "h", created_at_ms: 0 });
  const told: [string, readonly string[]][] = [];
  const sessions = new DeviceSessions({ directory, pending, limits, signed_out: (u, d) => told.push([u, d]), settle_ms: 60_000 });
  return { directory, pending, sessions, told };
}

describe("DeviceSessions", () => {
  it("retires the devices past the newest devicesPerUserMax at sign-in, with their pending entries", async () => {
    const { directory, pending, sessions, told } = await setup();
    for (const [i, d] of ["d1", "d2", "d3", "d4"].entries()) await directory.addDevice("u1", d, 100 + i);
    await pending.put([entry("u1", "d1", 1), entry("u1", "d2", 1), entry("u1", "d4", 1)]);
    await sessions.signedIn("u1");
    expect(await directory.devices("u1")).toEqual(["d2", "d3", "d4"]);
    expect(told).toEqual([["u1", ["d1"]]]);
    expect(await pending.count("u1", "d1")).toBe(0);
    expect(await pending.count("u1", "d2")).toBe(1);
    expect(await sessions.current("u1", "d1")).toBe(false);
    expect(await sessions.current("u1", "d4")).toBe(true);
  });

  it("retires only devices that are there, and all of them at a password change", async () => {
    const { directory, pending, sessions, told } = await setup();
    for (const [i, d] of ["d1", "d2"].entries()) await directory.addDevice("u1", d, 100 + i);
    await pending.put([entry("u1", "d1", 1), entry("u1", "d2", 2)]);
    expect(await sessions.retire("u1", ["nope"])).toEqual([]);
    expect(told).toEqual([]);
    await sessions.retireAll("u1");
    expect(await directory.devices("u1")).toEqual([]);
    expect(told).toEqual([["u1", ["d1", "d2"]]]);
    expect((await pending.count("u1", "d1")) + (await pending.count("u1", "d2"))).toBe(0);
  });

  it("drops at start-up the entries of devices gone from the directory, retires a device left beyond the newest, and keeps the current ones", async () => {
    const { directory, pending, sessions, told } = await setup();
    for (const [i, d] of ["d0", "d1", "d2", "d3"].entries()) await directory.addDevice("u1", d, 100 + i);
    // "gone": removed from the directory with its entries, then a late put landed; "d0": beyond
    // the newest 3 (a stop between a sign-in and its retirement).
    await pending.put([entry("u1", "gone", 1), entry("u1", "d0", 1), entry("u1", "d1", 1), entry("u1", "d3", 2)]);
    const devices = [
      { user_id: "u1", device_id: "d0" },
      { user_id: "u1", device_id: "d1" },
      { user_id: "u1", device_id: "d3" },
      { user_id: "u1", device_id: "gone" },
    ];
    const pages: number[] = [];
    const walk = async (after: { user_id: string; device_id: string } | null, limit: number) => {
      const from = after === null ? 0 : devices.findIndex((d) => d.device_id === after.device_id) + 1;
      pages.push(from);
      return devices.slice(from, from + limit);
    };
    expect(await sessions.dropOrphans(walk)).toBe(2);
    expect(await pending.count("u1", "gone")).toBe(0);
    expect(await pending.count("u1", "d0")).toBe(0);
    expect(await directory.devices("u1")).toEqual(["d1", "d2", "d3"]);
    expect(told).toEqual([["u1", ["d0"]]]);
    expect(await pending.count("u1", "d1")).toBe(1);
    expect(await pending.count("u1", "d3")).toBe(1);
    expect(pages).toEqual([0]);
  });

  it("collects devices whose token expired, and leaves the others", async () => {
    const { directory, pending, sessions, told } = await setup();
    await directory.addDevice("u1", "old", 100);
    await directory.addDevice("u1", "new", 900);
    await pending.put([entry("u1", "old", 1), entry("u1", "new", 1)]);
    expect(await sessions.sweepExpired(1_500)).toBe(1);
    expect(await directory.devices("u1")).toEqual(["new"]);
    expect(told).toEqual([["u1", ["old"]]]);
    expect(await pending.count("u1", "old")).toBe(0);
    expect(await pending.count("u1", "new")).toBe(1);
    expect(await sessions.sweepExpired(1_500)).toBe(0);
  });
});
