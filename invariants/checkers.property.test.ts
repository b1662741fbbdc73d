/**
 * Properties of the checkers as a whole: random, well-typed mutations of the baseline never
 * crash a checker (each answers an array of well-formed violations, the same one twice), and
 * the baseline passes every checker however the events of different devices are interleaved
 * (lists only promise per-device order) and however unordered lists are shuffled.
 *
 * Replay a failure with FC_SEED=<seed printed in the test name or the failure report>.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DeviceRef } from "./history.js";
import { deviceKey } from "./history.js";
import { CHECKERS, checkAll } from "./index.js";
import { ALICE_LAPTOP, ALICE_PHONE, BOB_PHONE, CAROL_PHONE, DM, GROUP, M, baseline, id, type HistoryDraft } from "./test-support.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const numRuns = Number(process.env.FC_RUNS ?? 300);

const IDS = [...Object.values(M), id(5), id(45), id(99), "", "not-an-id", "1"];
const USERS = ["alice", "bob", "carol", "mallory"];
const DEVICES: DeviceRef[] = [ALICE_PHONE, ALICE_LAPTOP, BOB_PHONE, CAROL_PHONE, { user_id: "mallory", device_id: "x" }];
const CONVERSATIONS = [DM, GROUP, "group:nope"];
const TIMES = [-1, 0, 105, 250, 416, 999, 1000, 1150, 5000, Number.MAX_SAFE_INTEGER];
const CLIENT_MSG_IDS = ["a1", "b1", "a2", "c1", "a3", "b2", "c2", "b3", "zz"];
const CONTENTS = ["text of a1", "text of b3", "x", ""];

const pick = <T>(pool: readonly T[], n: number): T => pool[n % pool.length] as T;
const orNull = <T>(pool: readonly T[], n: number): T | null => (n % (pool.length + 1) === pool.length ? null : pick(pool, n));

type Setter = (event: never, n: number) => void;
type Lists = "sends" | "displays" | "receipts" | "acks" | "received" | "memberships" | "devices" | "connections";

/** Field setters per list; every value keeps the field's type. */
const SETTERS: Record<Lists, Setter[]> = {
  sends: [
    (e: HistoryDraft["sends"][number], n) => (e.message_id = orNull(IDS, n)),
    (e: HistoryDraft["sends"][number], n) => (e.outcome = pick(["ok", "fail", "info"] as const, n)),
    (e: HistoryDraft["sends"][number], n) => (e.completed_at = orNull(TIMES, n)),
    (e: HistoryDraft["sends"][number], n) => (e.invoked_at = pick(TIMES, n)),
    (e: HistoryDraft["sends"][number], n) => (e.client_msg_id = pick(CLIENT_MSG_IDS, n)),
    (e: HistoryDraft["sends"][number], n) => (e.content = pick(CONTENTS, n)),
    (e: HistoryDraft["sends"][number], n) => (e.device = pick(DEVICES, n)),
    (e: HistoryDraft["sends"][number], n) => (e.conversation_id = pick(CONVERSATIONS, n)),
  ] as Setter[],
  displays: [
    (e: HistoryDraft["displays"][number], n) => (e.message_id = pick(IDS, n)),
    (e: HistoryDraft["displays"][number], n) => (e.from = pick(USERS, n)),
    (e: HistoryDraft["displays"][number], n) => (e.client_msg_id = pick(CLIENT_MSG_IDS, n)),
    (e: HistoryDraft["displays"][number], n) => (e.content = pick(CONTENTS, n)),
    (e: HistoryDraft["displays"][number], n) => (e.at = pick(TIMES, n)),
    (e: HistoryDraft["displays"][number], n) => (e.connection = n % 4),
    (e: HistoryDraft["displays"][number], n) => (e.via = pick(["own", "new_message"] as const, n)),
    (e: HistoryDraft["displays"][number], n) => (e.device = pick(DEVICES, n)),
    (e: HistoryDraft["displays"][number], n) => (e.conversation_id = pick(CONVERSATIONS, n)),
  ] as Setter[],
  receipts: [
    (e: HistoryDraft["receipts"][number], n) => (e.message_id = pick(IDS, n)),
    (e: HistoryDraft["receipts"][number], n) => (e.user_id = orNull(USERS, n)),
    (e: HistoryDraft["receipts"][number], n) => (e.status = pick(["sent", "delivered", "read"] as const, n)),
    (e: HistoryDraft["receipts"][number], n) => (e.at = pick(TIMES, n)),
    (e: HistoryDraft["receipts"][number], n) => (e.device = pick(DEVICES, n)),
    (e: HistoryDraft["receipts"][number], n) => (e.conversation_id = pick(CONVERSATIONS, n)),
  ] as Setter[],
  acks: [
    (e: HistoryDraft["acks"][number], n) => (e.message_id = pick(IDS, n)),
    (e: HistoryDraft["acks"][number], n) => (e.status = pick(["delivered", "read"] as const, n)),
    (e: HistoryDraft["acks"][number], n) => (e.at = pick(TIMES, n)),
    (e: HistoryDraft["acks"][number], n) => (e.device = pick(DEVICES, n)),
  ] as Setter[],
  received: [
    (e: HistoryDraft["received"][number], n) => (e.at = pick(TIMES, n)),
    (e: HistoryDraft["received"][number], n) => (e.device = pick(DEVICES, n)),
    (e: HistoryDraft["received"][number], n) => {
      if (e.kind === "typing") e.conversation_id = pick(CONVERSATIONS, n);
      else e.status = pick(["online", "offline"] as const, n);
    },
    (e: HistoryDraft["received"][number], n) => {
      if (e.kind === "typing") e.from = pick(USERS, n);
      else e.user_id = pick(USERS, n);
    },
  ] as Setter[],
  memberships: [
    (e: HistoryDraft["memberships"][number], n) => (e.joined_at = orNull(TIMES, n)),
    (e: HistoryDraft["memberships"][number], n) => (e.left_at = orNull(TIMES, n)),
    (e: HistoryDraft["memberships"][number], n) => (e.user_id = pick(USERS, n)),
    (e: HistoryDraft["memberships"][number], n) => (e.conversation_id = pick(CONVERSATIONS, n)),
  ] as Setter[],
  devices: [(e: DeviceRef & { user_id: string; device_id: string }, n) => (e.device_id = pick(["phone", "laptop", "x"], n))] as Setter[],
  connections: [
    (e: NonNullable<HistoryDraft["connections"]>[number], n) => (e.opened_at = pick(TIMES, n)),
    (e: NonNullable<HistoryDraft["connections"]>[number], n) => (e.closed_at = orNull(TIMES, n)),
    (e: NonNullable<HistoryDraft["connections"]>[number], n) => (e.device = pick(DEVICES, n)),
  ] as Setter[],
};

/** Edits of the final state; each keeps the types. */
const FINAL_EDITS: ((h: HistoryDraft, n: number) => void)[] = [
  (h) => (h.final.quiescent = !h.final.quiescent),
  (h, n) => (h.final.quiescent_at = orNull(TIMES, n)),
  (h, n) => (h.final.healed_at = pick(TIMES, n)),
  (h, n) => h.final.pending.push({ device: pick(DEVICES, n), message_id: pick(IDS, n >> 3) }),
  (h, n) => h.final.connected.splice(n % Math.max(1, h.final.connected.length), 1),
  (h, n) => h.final.connected.push(pick(DEVICES, n)),
  (h, n) => (h.final.history[pick(CONVERSATIONS, n)] ??= []).push(pick(IDS, n >> 2)),
  (h, n) => delete h.final.history[pick(CONVERSATIONS, n)],
  (h, n) => h.final.history[pick(CONVERSATIONS, n)]?.reverse(),
  (h, n) => h.final.unread?.push({ user_id: pick(USERS, n), conversation_id: pick(CONVERSATIONS, n >> 2), count: n % 4 }),
  (h) => delete h.final.unread,
  (h, n) => h.final.presence_watches?.push({ device: pick(DEVICES, n), user_id: pick(USERS, n >> 3) }),
  (h) => delete h.final.presence_watches,
  (h) => delete h.connections,
  (h, n) => (h.delivery_bound_ms = pick([0, 1, 100, 10_000], n)),
  (h, n) => (h.presence_bound_ms = pick([0, 1, 150, 10_000], n)),
];

type Mutation =
  | { readonly kind: "drop" | "duplicate" | "set"; readonly list: Lists; readonly index: number; readonly field: number; readonly value: number }
  | { readonly kind: "final"; readonly edit: number; readonly value: number };

const LISTS = Object.keys(SETTERS) as Lists[];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("drop" as const, "duplicate" as const, "set" as const),
    list: fc.constantFrom(...LISTS),
    index: fc.nat(),
    field: fc.nat(),
    value: fc.nat(),
  }),
  fc.record({ kind: fc.constant("final" as const), edit: fc.nat(FINAL_EDITS.length - 1), value: fc.nat() }),
);

function apply(h: HistoryDraft, m: Mutation): void {
  if (m.kind === "final") {
    FINAL_EDITS[m.edit]?.(h, m.value);
    return;
  }
  const list = (h[m.list] ?? []) as unknown[];
  if (list.length === 0) return;
  const index = m.index % list.length;
  if (m.kind === "drop") list.splice(index, 1);
  else if (m.kind === "duplicate") list.splice(index, 0, structuredClone(list[index]));
  else {
    const setters = SETTERS[m.list];
    const event = structuredClone(list[index]);
    (pick(setters, m.field) as (e: unknown, n: number) => void)(event, m.value);
    list[index] = event;
  }
}

/** A random interleaving of `items` that keeps the relative order of items with the same group. */
function interleave<T>(items: readonly T[], group: (item: T) => string, choices: readonly number[]): T[] {
  const queues = new Map<string, T[]>();
  for (const item of items) {
    const key = group(item);
    const queue = queues.get(key);
    if (queue === undefined) queues.set(key, [item]);
    else queue.push(item);
  }
  const open = [...queues.values()];
  const out: T[] = [];
  let step = 0;
  while (open.length > 0) {
    const at = (choices[step % Math.max(1, choices.length)] ?? 0) % open.length;
    step += 1;
    const queue = open[at] as T[];
    out.push(queue.shift() as T);
    if (queue.length === 0) open.splice(at, 1);
  }
  return out;
}

describe(`checkers under random histories (seed ${seed})`, () => {
  it(`never crash on mutations of the baseline and answer well-formed violations (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 8 }), (mutations) => {
        const h = baseline();
        for (const m of mutations) apply(h, m);
        for (const checker of CHECKERS) {
          const found = checker.check(h);
          expect(Array.isArray(found)).toBe(true);
          for (const v of found) {
            expect(v.invariant).toBe(checker.invariant);
            expect(v.name).toBe(checker.name);
            expect(typeof v.message).toBe("string");
            expect(v.message.length).toBeGreaterThan(0);
          }
          expect(checker.check(structuredClone(h))).toEqual(found);
        }
        expect(checkAll(h)).toEqual(CHECKERS.flatMap((c) => c.check(h)));
      }),
      { seed, numRuns },
    );
  });

  it(`pass the baseline however devices' events interleave and unordered lists are shuffled (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), (choices) => {
        const h = baseline();
        const byDevice = (e: { device: DeviceRef }): string => deviceKey(e.device);
        let unique = 0;
        const alone = (): string => String(unique++);
        h.displays = interleave(h.displays, byDevice, choices);
        h.receipts = interleave(h.receipts, byDevice, choices);
        h.acks = interleave(h.acks, byDevice, choices);
        h.received = interleave(h.received, byDevice, choices);
        h.sends = interleave(h.sends, byDevice, choices);
        h.connections = interleave(h.connections ?? [], byDevice, choices);
        h.devices = interleave(h.devices, alone, choices);
        h.memberships = interleave(h.memberships, alone, choices);
        h.final.connected = interleave(h.final.connected, alone, choices);
        h.final.unread = interleave(h.final.unread ?? [], alone, choices);
        h.final.presence_watches = interleave(h.final.presence_watches ?? [], alone, choices);
        h.final.history = Object.fromEntries(interleave(Object.entries(h.final.history), alone, choices));
        expect(checkAll(h)).toEqual([]);
      }),
      { seed, numRuns },
    );
  });

  it(`catch the loss of any one display of the baseline under invariants 1 and 5 (seed ${seed})`, () => {
    const displays = baseline().displays.length;
    fc.assert(
      fc.property(fc.nat(displays - 1), (index) => {
        const h = baseline();
        const [lost] = h.displays.splice(index, 1);
        if (lost === undefined) throw new Error("index out of range");
        for (const invariant of [1, 5]) {
          const found = CHECKERS[invariant - 1]?.check(h) ?? [];
          expect(found.some((v) => v.message.includes(lost.message_id) && v.message.includes(deviceKey(lost.device)))).toBe(true);
        }
      }),
      { seed, numRuns: Math.min(numRuns, displays * 4) },
    );
  });
});
