/**
 * The Log contract (core/ports/log.ts), as vitest tests that every Log must pass: the
 * memory one, the simulated one, SQLite, and Kafka/Redpanda against a real broker.
 *
 * Rules of this suite, so that it can run against a server that keeps state between tests:
 * - It only speaks the port and the harness. Every test uses its own keys, group and member
 *   IDs, and judges only the records it appended itself (by their positions), so records of
 *   other tests or earlier runs in the same partitions are ignored, never assumed absent.
 * - A group with no committed offset starts at the beginning of each partition (the router
 *   must not skip records it never saw); the suite relies on that.
 * - Nothing sleeps: every wait is a `poll(max_records, wait_ms)`, repeated until a condition
 *   holds or `settle_ms` runs out. Rebalances in a real broker happen inside poll, so the
 *   suite keeps polling every member while it waits for an assignment to settle.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Log, LogConsumer } from "../../core/ports/log.js";
import type { ConsumedRecord, LogPosition, LogRecord, SendRecord } from "../../core/model.js";

export type LogHarness = {
  readonly log: Log;
  /** The longest one condition may take to come true (a rebalance, a record arriving); default 10 s. */
  readonly settle_ms?: number;
  /** Closes the log and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type LogContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
  /**
   * The log under test has one partition: the tests that need a partition to move between
   * members are then not registered at all (rather than registered and skipped).
   */
  readonly single_partition?: boolean;
};

const SETTLE_MS_DEFAULT = 10_000;
const POLL_RECORDS_MAX = 100;
const POLL_WAIT_MS = 100;
/** Appends allowed per partition while looking for keys that cover every partition. */
const COVER_APPENDS_PER_PARTITION_MAX = 64;

type Appended = { readonly key: string; readonly record: LogRecord; readonly position: LogPosition };

const positionKey = (position: LogPosition): string => `${position.partition}:${position.offset}`;
const allPartitions = (count: number): number[] => Array.from({ length: count }, (_, p) => p);
const sorted = (partitions: readonly number[]): number[] => [...partitions].sort((a, b) => a - b);

export function describeLogContract(name: string, factory: () => Promise<LogHarness>, options: LogContractOptions = {}): void {
  describe(`Log contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

    let harness: LogHarness | null = null;
    let opened: LogConsumer[] = [];

    beforeEach(async () => {
      harness = await factory();
      opened = [];
    });

    afterEach(async () => {
      for (const consumer of opened) await consumer.close().catch(() => undefined);
      await harness?.cleanup();
      harness = null;
    });

    const h = (): LogHarness => {
      if (harness === null) throw new Error("Log contract: the harness is not open");
      return harness;
    };
    const log = (): Log => h().log;
    const settle_ms = (): number => h().settle_ms ?? SETTLE_MS_DEFAULT;

    const join = async (group: string, member_id: string = unique("member")): Promise<LogConsumer> => {
      const consumer = await log().consumer(group, member_id);
      opened.push(consumer);
      return consumer;
    };

    const close = async (consumer: LogConsumer): Promise<void> => {
      opened = opened.filter((c) => c !== consumer);
      await consumer.close();
    };

    const record = (key: string): SendRecord => ({
      kind: "send",
      conversation_id: key,
      sender_id: "u-contract",
      sender_device_id: "dev-contract",
      origin: { gateway_id: "gw-contract", connection_id: "conn-contract" },
      target: { kind: "group", group_id: key.slice(2) },
      content: `content ${randomUUID()}`,
      type: "text",
      client_msg_id: randomUUID(),
      accepted_at_ms: 1_750_000_000_000,
    });

    const append = async (key: string): Promise<Appended> => {
      const value = record(key);
      const position = await log().append(key, value);
      return { key, record: value, position };
    };

    /** Appends under fresh keys until every partition holds one; answers a key per partition. */
    const coverPartitions = async (): Promise<{ key_of: string[]; appended: Appended[] }> => {
      const count = log().partition_count;
      const key_of: (string | undefined)[] = new Array<string | undefined>(count).fill(undefined);
      const appended: Appended[] = [];
      const tag = unique("g.cover");
      for (let i = 0; i < count * COVER_APPENDS_PER_PARTITION_MAX && key_of.includes(undefined); i++) {
        const item = await append(`${tag}-${i}`);
        appended.push(item);
        key_of[item.position.partition] ??= item.key;
      }
      const missing = allPartitions(count).filter((p) => key_of[p] === undefined);
      if (missing.length > 0) throw new Error(`Log contract: no key landed on partitions ${missing.join(", ")} in ${appended.length} appends`);
      return { key_of: key_of as string[], appended };
    };

    /** Polls every consumer into `seen` until `done()` holds; fails after settle_ms. */
    const pollUntil = async (
      consumers: readonly LogConsumer[],
      seen: Map<LogConsumer, ConsumedRecord[]>,
      done: () => boolean,
      what: string,
    ): Promise<void> => {
      const deadline_ms = Date.now() + settle_ms();
      while (!done()) {
        if (Date.now() > deadline_ms) throw new Error(`Log contract: timed out after ${settle_ms()} ms waiting for ${what}`);
        for (const consumer of consumers) {
          const records = await consumer.poll(POLL_RECORDS_MAX, POLL_WAIT_MS);
          expect(records.length).toBeLessThanOrEqual(POLL_RECORDS_MAX);
          seen.get(consumer)?.push(...records);
        }
      }
    };

    const seenBy = (...consumers: LogConsumer[]): Map<LogConsumer, ConsumedRecord[]> => new Map(consumers.map((c) => [c, []]));
    const records = (seen: Map<LogConsumer, ConsumedRecord[]>, consumer: LogConsumer): ConsumedRecord[] => seen.get(consumer) ?? [];

    /** The records in `got` that are among `ours`, by position. */
    const mine = (got: readonly ConsumedRecord[], ours: readonly Appended[]): ConsumedRecord[] => {
      const wanted = new Set(ours.map((a) => positionKey(a.position)));
      return got.filter((r) => wanted.has(positionKey(r)));
    };
    const hasAll = (got: readonly ConsumedRecord[], ours: readonly Appended[]): boolean => {
      const have = new Set(got.map(positionKey));
      return ours.every((a) => have.has(positionKey(a.position)));
    };

    const isSplit = (a: LogConsumer, b: LogConsumer): boolean => {
      const one = a.assignment();
      const two = b.assignment();
      const union = sorted([...one, ...two]);
      const count = log().partition_count;
      const disjoint = one.every((p) => !two.includes(p));
      const complete = union.length === count && union.every((p, i) => p === i);
      const both = count < 2 || (one.length > 0 && two.length > 0);
      return disjoint && complete && both;
    };

    const timeout = options.test_timeout_ms;

    it(
      "sends the same key to the same partition, within [0, partition_count)",
      async () => {
        const count = log().partition_count;
        expect(Number.isInteger(count) && count > 0).toBe(true);
        for (let k = 0; k < 3; k++) {
          const key = unique("g.same");
          const positions: LogPosition[] = [];
          for (let i = 0; i < 4; i++) positions.push((await append(key)).position);
          const first = positions[0]?.partition;
          expect(first).toBeGreaterThanOrEqual(0);
          expect(first).toBeLessThan(count);
          expect(positions.map((p) => p.partition)).toEqual([first, first, first, first]);
        }
      },
      timeout,
    );

    it(
      "gives strictly increasing offsets within each partition",
      async () => {
        const { key_of, appended } = await coverPartitions();
        for (const key of key_of) for (let i = 0; i < 3; i++) appended.push(await append(key));
        for (const partition of allPartitions(log().partition_count)) {
          const offsets = appended.filter((a) => a.position.partition === partition).map((a) => a.position.offset);
          expect(offsets.length).toBeGreaterThanOrEqual(4);
          for (const offset of offsets) expect(Number.isInteger(offset) && offset >= 0).toBe(true);
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
        }
      },
      timeout,
    );

    it(
      "hands a fresh group's only member every partition and every record, in offset order, intact",
      async () => {
        const { key_of, appended } = await coverPartitions();
        for (const key of key_of) for (let i = 0; i < 2; i++) appended.push(await append(key));
        const consumer = await join(unique("group"));
        const seen = seenBy(consumer);
        await pollUntil([consumer], seen, () => hasAll(records(seen, consumer), appended), "every appended record");

        expect(sorted(consumer.assignment())).toEqual(allPartitions(log().partition_count));
        const got = records(seen, consumer);
        // No rebalance happened, so nothing may come twice and each partition moves forwards.
        for (const partition of allPartitions(log().partition_count)) {
          const offsets = got.filter((r) => r.partition === partition).map((r) => r.offset);
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
        }
        const ours = mine(got, appended);
        expect(ours.length).toBe(appended.length);
        const by_position = new Map(appended.map((a) => [positionKey(a.position), a]));
        for (const r of ours) {
          const original = by_position.get(positionKey(r));
          expect(r.key).toBe(original?.key);
          expect(r.record).toEqual(original?.record);
          expect(Number.isInteger(r.generation)).toBe(true);
        }
      },
      timeout,
    );

    it(
      "never hands out more than max_records in one poll",
      async () => {
        const key = unique("g.max");
        const appended: Appended[] = [];
        for (let i = 0; i < 5; i++) appended.push(await append(key));
        const consumer = await join(unique("group"));
        const got: ConsumedRecord[] = [];
        const deadline_ms = Date.now() + settle_ms();
        while (!hasAll(got, appended)) {
          if (Date.now() > deadline_ms) throw new Error("Log contract: timed out waiting for 5 records polled 2 at a time");
          const batch = await consumer.poll(2, POLL_WAIT_MS);
          expect(batch.length).toBeLessThanOrEqual(2);
          got.push(...batch);
        }
        expect(mine(got, appended).map((r) => r.offset)).toEqual(appended.map((a) => a.position.offset));
      },
      timeout,
    );

    it(
      "wakes a waiting poll when a record arrives, well before wait_ms",
      async () => {
        const marker = await append(unique("g.wake"));
        const consumer = await join(unique("group"));
        const seen = seenBy(consumer);
        await pollUntil([consumer], seen, () => hasAll(records(seen, consumer), [marker]), "the marker record");

        const wait_ms = 5_000;
        const waiting = consumer.poll(POLL_RECORDS_MAX, wait_ms);
        const appended_at_ms = Date.now();
        const late = await append(unique("g.wake"));
        const got = [...(await waiting)];
        while (!hasAll(got, [late]) && Date.now() - appended_at_ms < 2 * wait_ms) {
          got.push(...(await consumer.poll(POLL_RECORDS_MAX, wait_ms)));
        }
        expect(hasAll(got, [late])).toBe(true);
        expect(Date.now() - appended_at_ms).toBeLessThan(wait_ms - 1_000);
      },
      timeout,
    );

    it(
      "resumes a group after its committed offsets and hands out uncommitted records again",
      async () => {
        const { key_of, appended } = await coverPartitions();
        for (const key of key_of) for (let i = 0; i < 2; i++) appended.push(await append(key));
        const group = unique("group");
        const first = await join(group);
        const seen = seenBy(first);
        await pollUntil([first], seen, () => hasAll(records(seen, first), appended), "every appended record");

        // Commit past our first record in each even partition; leave odd partitions uncommitted.
        const ours = mine(records(seen, first), appended);
        const committed = new Map<number, number>();
        for (const partition of allPartitions(log().partition_count).filter((p) => p % 2 === 0)) {
          const head = ours.find((r) => r.partition === partition);
          if (head === undefined) throw new Error(`Log contract: no record of ours in partition ${partition}`);
          expect(await first.commit([{ partition, offset: head.offset + 1 }], head.generation)).toBe("ok");
          committed.set(partition, head.offset + 1);
        }
        await close(first);

        const second = await join(group);
        const again = seenBy(second);
        const expected = appended.filter((a) => a.position.offset >= (committed.get(a.position.partition) ?? 0));
        await pollUntil([second], again, () => hasAll(records(again, second), expected), "the uncommitted records");
        const redelivered = mine(records(again, second), appended);
        for (const r of redelivered) expect(r.offset).toBeGreaterThanOrEqual(committed.get(r.partition) ?? 0);
        expect(new Set(redelivered.map(positionKey)).size).toBe(expected.length);
      },
      timeout,
    );

    it(
      "keeps each group's committed offsets to itself",
      async () => {
        const key = unique("g.groups");
        const appended: Appended[] = [];
        for (let i = 0; i < 3; i++) appended.push(await append(key));
        const one = await join(unique("group"));
        const seen = seenBy(one);
        await pollUntil([one], seen, () => hasAll(records(seen, one), appended), "the records in group one");
        const last = mine(records(seen, one), appended).at(-1);
        if (last === undefined) throw new Error("Log contract: group one saw none of our records");
        expect(await one.commit([{ partition: last.partition, offset: last.offset + 1 }], last.generation)).toBe("ok");

        const two = await join(unique("group"));
        const seen_two = seenBy(two);
        await pollUntil([two], seen_two, () => hasAll(records(seen_two, two), appended), "the same records in group two");
        expect(mine(records(seen_two, two), appended).map((r) => r.offset)).toEqual(appended.map((a) => a.position.offset));
      },
      timeout,
    );

    it(
      "splits the partitions between two members, and each polls only its own",
      async () => {
        const { key_of } = await coverPartitions();
        const group = unique("group");
        const a = await join(group);
        const b = await join(group);
        const seen = seenBy(a, b);
        await pollUntil([a, b], seen, () => isSplit(a, b), "two members to split the partitions");
        const owned_a = sorted(a.assignment());
        const owned_b = sorted(b.assignment());
        expect(sorted([...owned_a, ...owned_b])).toEqual(allPartitions(log().partition_count));
        expect(owned_a.filter((p) => owned_b.includes(p))).toEqual([]);

        const fresh: Appended[] = [];
        for (const key of key_of) fresh.push(await append(key));
        const after = seenBy(a, b);
        await pollUntil([a, b], after, () => hasAll([...records(after, a), ...records(after, b)], fresh), "the fresh records");
        expect(sorted(a.assignment())).toEqual(owned_a);
        expect(sorted(b.assignment())).toEqual(owned_b);
        for (const r of records(after, a)) expect(owned_a).toContain(r.partition);
        for (const r of records(after, b)) expect(owned_b).toContain(r.partition);
      },
      timeout,
    );

    it(
      "moves a closing member's partitions to the other, which gets its uncommitted records",
      async () => {
        const { key_of } = await coverPartitions();
        const group = unique("group");
        const a = await join(group);
        const b = await join(group);
        const settling = seenBy(a, b);
        await pollUntil([a, b], settling, () => isSplit(a, b), "two members to split the partitions");
        const owned_a = sorted(a.assignment());

        const fresh: Appended[] = [];
        for (const key of key_of) for (let i = 0; i < 2; i++) fresh.push(await append(key));
        const seen = seenBy(a, b);
        await pollUntil([a, b], seen, () => hasAll([...records(seen, a), ...records(seen, b)], fresh), "the fresh records");

        // A commits past its first fresh record in each partition it owns, then leaves.
        const committed = new Map<number, number>();
        for (const partition of owned_a) {
          const head = mine(records(seen, a), fresh).find((r) => r.partition === partition);
          if (head === undefined) throw new Error(`Log contract: member a saw none of our records in partition ${partition}`);
          expect(await a.commit([{ partition, offset: head.offset + 1 }], head.generation)).toBe("ok");
          committed.set(partition, head.offset + 1);
        }
        await close(a);

        const expected = fresh.filter((x) => owned_a.includes(x.position.partition) && x.position.offset >= (committed.get(x.position.partition) ?? 0));
        expect(expected.length).toBe(owned_a.length);
        const taken = seenBy(b);
        await pollUntil(
          [b],
          taken,
          () => sorted(b.assignment()).length === log().partition_count && hasAll(records(taken, b), expected),
          "the remaining member to take every partition and a's uncommitted records",
        );
        expect(sorted(b.assignment())).toEqual(allPartitions(log().partition_count));
        const from_a = mine(records(taken, b), fresh).filter((r) => owned_a.includes(r.partition));
        for (const r of from_a) expect(r.offset).toBeGreaterThanOrEqual(committed.get(r.partition) ?? 0);
      },
      timeout,
    );

    /**
     * A alone reads everything (generation `old`), then B joins and takes some partitions.
     * Answers the records A saw before B joined and a fresh record A got afterwards, whose
     * generation is the current one.
     */
    const staleMemberSetup = async () => {
      const cover = await coverPartitions();
      const group = unique("group");
      const a = await join(group);
      const before = seenBy(a);
      await pollUntil([a], before, () => hasAll(records(before, a), cover.appended), "member a to read every record");
      const old = mine(records(before, a), cover.appended);
      const b = await join(group);
      const settling = seenBy(a, b);
      await pollUntil([a, b], settling, () => isSplit(a, b), "two members to split the partitions");
      const kept = sorted(a.assignment())[0];
      const moved = sorted(b.assignment())[0];
      if (kept === undefined || moved === undefined) throw new Error("Log contract: a split left a member without partitions");
      const key_of = cover.key_of;
      const probe = await append(key_of[kept] as string);
      const after = seenBy(a);
      await pollUntil([a], after, () => hasAll(records(after, a), [probe]), "member a to read a fresh record");
      const current = mine(records(after, a), [probe])[0];
      if (current === undefined) throw new Error("Log contract: member a lost the fresh record");
      return { group, a, b, old, current, kept, moved, appended: [...cover.appended, probe] };
    };

    /**
     * Closes every member; then a new member of the group must hand out our records of each
     * partition starting exactly at the given offset (the committed one).
     */
    const expectResumesAt = async (
      group: string,
      members: readonly LogConsumer[],
      appended: readonly Appended[],
      resume_at: ReadonlyMap<number, number>,
    ): Promise<void> => {
      for (const member of members) await close(member);
      const c = await join(group);
      const seen = seenBy(c);
      const expected = appended.filter((x) => x.position.offset >= (resume_at.get(x.position.partition) ?? Number.POSITIVE_INFINITY));
      await pollUntil([c], seen, () => hasAll(records(seen, c), expected), "a new member to read from the committed offsets");
      for (const [partition, offset] of resume_at) {
        const got = mine(records(seen, c), appended).filter((r) => r.partition === partition);
        expect(got.length).toBeGreaterThan(0);
        expect(Math.min(...got.map((r) => r.offset))).toBe(offset);
      }
    };

    const itMovable = options.single_partition === true ? (): void => undefined : it;
    const needTwo = (): void => {
      if (log().partition_count < 2) throw new Error("Log contract: this log has one partition; pass { single_partition: true }");
    };

    itMovable(
      "fences a commit for a partition that moved to another member, and moves nothing",
      async () => {
        needTwo();
        const { group, a, b, old, current, kept, moved, appended } = await staleMemberSetup();
        expect(current.generation).toBeGreaterThan(old[0]?.generation ?? Number.POSITIVE_INFINITY);
        const first_moved = appended.find((x) => x.position.partition === moved);
        const first_kept = appended.find((x) => x.position.partition === kept);
        if (first_moved === undefined || first_kept === undefined) throw new Error("Log contract: cover left a partition empty");
        const past = (partition: number): number => Math.max(...appended.filter((x) => x.position.partition === partition).map((x) => x.position.offset)) + 1;

        expect(await a.commit([{ partition: moved, offset: past(moved) }], old[0]?.generation ?? 0)).toBe("fenced");
        expect(await a.commit([{ partition: moved, offset: past(moved) }], current.generation)).toBe("fenced");
        // One moved partition fences the whole commit: the partition a still owns stays put too.
        expect(await a.commit([{ partition: kept, offset: past(kept) }, { partition: moved, offset: past(moved) }], current.generation)).toBe("fenced");

        const resume_at = new Map([
          [moved, first_moved.position.offset],
          [kept, first_kept.position.offset],
        ]);
        await expectResumesAt(group, [a, b], appended, resume_at);
      },
      timeout,
    );

    itMovable(
      "fences a commit from an older generation even for a partition the member still owns",
      async () => {
        needTwo();
        const { group, a, b, old, current, kept, appended } = await staleMemberSetup();
        const old_generation = old[0]?.generation;
        if (old_generation === undefined) throw new Error("Log contract: member a saw no records before b joined");
        expect(current.generation).toBeGreaterThan(old_generation);
        const in_kept = appended.filter((x) => x.position.partition === kept);
        const first = in_kept[0];
        const last = in_kept.at(-1);
        if (first === undefined || last === undefined) throw new Error("Log contract: cover left a partition empty");

        expect(await a.commit([{ partition: kept, offset: last.position.offset + 1 }], old_generation)).toBe("fenced");
        expect(await a.commit([{ partition: kept, offset: first.position.offset + 1 }], current.generation)).toBe("ok");

        const second = in_kept[1];
        if (second === undefined) throw new Error("Log contract: partition holds a probe after the cover record");
        await expectResumesAt(group, [a, b], appended, new Map([[kept, second.position.offset]]));
      },
      timeout,
    );
  });
}
