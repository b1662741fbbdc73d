/**
 * The PendingStore contract (core/ports/pending-store.ts), as vitest tests that every
 * PendingStore must pass: the memory one, the simulated one, SQLite, and Cassandra/ScyllaDB
 * against a real server.
 *
 * Rules of this suite, so that it can run against a server that keeps state between tests:
 * - It speaks only the port and the harness. Every test uses its own users, devices and
 *   conversations (named from a per-run random prefix and a counter), so rows of other tests
 *   or earlier runs are never seen; the order tests name conversations so that their order
 *   as strings is the order the test expects.
 * - Entries carry every field of the model, a group ID and a previous message ID included,
 *   and are compared whole: a store must give back exactly what it was given.
 * - Message IDs are 19-digit zero-padded decimals, as Snowflake IDs are.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PendingEntry } from "../../core/model.js";
import type { PendingStore } from "../../core/ports/pending-store.js";

export type PendingStoreHarness = {
  readonly store: PendingStore;
  /** Closes the store and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type PendingStoreContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

/** A 19-digit message ID; `n` small numbers stay in order as strings. */
const messageId = (n: number): string => String(700_000_000_000_000_000n + BigInt(n)).padStart(19, "0");

export function describePendingStoreContract(
  name: string,
  factory: () => PendingStoreHarness | Promise<PendingStoreHarness>,
  options: PendingStoreContractOptions = {},
): void {
  const timeout = options.test_timeout_ms;

  describe(`PendingStore contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

    let harness: PendingStoreHarness | null = null;
    const store = (): PendingStore => {
      if (harness === null) throw new Error("pending store contract: the factory did not run");
      return harness.store;
    };

    beforeEach(async () => {
      harness = await factory();
    });

    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });

    /** A device of its own, and entries for it. */
    const device = (): {
      user_id: string;
      device_id: string;
      entry(n: number, conversation_id: string, content?: string): PendingEntry;
    } => {
      const user_id = unique("user");
      const device_id = unique("device");
      return {
        user_id,
        device_id,
        entry: (n, conversation_id, content = `message ${n}`) => ({
          user_id,
          device_id,
          message: {
            message_id: messageId(n),
            conversation_id,
            sender_id: "sender",
            sender_device_id: "sender-device",
            group_id: n % 2 === 0 ? null : `group-${run}`,
            content,
            type: "text",
            client_msg_id: `client-${n}`,
            sent_at_ms: 1_767_225_600_000 + n,
            prev_message_id: n > 1 ? messageId(n - 1) : null,
          },
        }),
      };
    };

    const numbers = (entries: readonly PendingEntry[]): number[] =>
      entries.map((e) => Number(BigInt(e.message.message_id) - 700_000_000_000_000_000n));

    it("has nothing for a device it never saw", async () => {
      const d = device();
      expect(await store().list(d.user_id, d.device_id, null, 10)).toEqual([]);
      expect(await store().listConversation(d.user_id, d.device_id, unique("conv"), null, 10)).toEqual([]);
      expect(await store().count(d.user_id, d.device_id)).toBe(0);
    }, timeout);

    it("gives back exactly the entries it was given, ordered by conversation and then message ID", async () => {
      const d = device();
      const conversation = unique("conv");
      const [first, second] = [`${conversation}-a`, `${conversation}-b`];
      const entries = [d.entry(4, second), d.entry(2, first), d.entry(3, second), d.entry(1, first), d.entry(5, first)];
      await store().put(entries);
      const listed = await store().list(d.user_id, d.device_id, null, 10);
      expect(listed).toEqual([d.entry(1, first), d.entry(2, first), d.entry(5, first), d.entry(3, second), d.entry(4, second)]);
      expect(await store().count(d.user_id, d.device_id)).toBe(5);
    }, timeout);

    it("takes a put of an entry it holds as a no-op, in one batch or in two", async () => {
      const d = device();
      const conversation = unique("conv");
      await store().put([d.entry(1, conversation), d.entry(1, conversation)]);
      await store().put([d.entry(1, conversation), d.entry(2, conversation)]);
      await store().put([]);
      expect(numbers(await store().list(d.user_id, d.device_id, null, 10))).toEqual([1, 2]);
      expect(await store().count(d.user_id, d.device_id)).toBe(2);
    }, timeout);

    it("lists strictly after the cursor, at most limit entries, and pages through everything", async () => {
      const d = device();
      const conversation = unique("conv");
      const [first, second] = [`${conversation}-a`, `${conversation}-b`];
      await store().put([1, 2, 3].map((n) => d.entry(n, first)).concat([4, 5].map((n) => d.entry(n, second))));
      expect(numbers(await store().list(d.user_id, d.device_id, null, 2))).toEqual([1, 2]);
      expect(numbers(await store().list(d.user_id, d.device_id, { conversation_id: first, message_id: messageId(2) }, 2))).toEqual([3, 4]);
      expect(numbers(await store().list(d.user_id, d.device_id, { conversation_id: first, message_id: messageId(3) }, 10))).toEqual([4, 5]);
      expect(await store().list(d.user_id, d.device_id, { conversation_id: second, message_id: messageId(5) }, 10)).toEqual([]);
      expect(await store().list(d.user_id, d.device_id, null, 0)).toEqual([]);
      const paged: number[] = [];
      let page = await store().list(d.user_id, d.device_id, null, 2);
      while (page.length > 0) {
        paged.push(...numbers(page));
        const last = page[page.length - 1] as PendingEntry;
        page = await store().list(d.user_id, d.device_id, { conversation_id: last.message.conversation_id, message_id: last.message.message_id }, 2);
      }
      expect(paged).toEqual([1, 2, 3, 4, 5]);
    }, timeout);

    it("lists one conversation after a message ID, ascending, at most limit entries", async () => {
      const d = device();
      const [mine, other] = [unique("conv"), unique("conv")];
      await store().put([d.entry(1, mine), d.entry(2, other), d.entry(3, mine), d.entry(4, mine)]);
      expect(numbers(await store().listConversation(d.user_id, d.device_id, mine, null, 10))).toEqual([1, 3, 4]);
      expect(numbers(await store().listConversation(d.user_id, d.device_id, mine, messageId(1), 1))).toEqual([3]);
      expect(numbers(await store().listConversation(d.user_id, d.device_id, mine, messageId(2), 10))).toEqual([3, 4]);
      expect(await store().listConversation(d.user_id, d.device_id, mine, messageId(4), 10)).toEqual([]);
      expect(await store().listConversation(d.user_id, d.device_id, mine, null, 0)).toEqual([]);
    }, timeout);

    it("keeps devices and users apart", async () => {
      const [a, b] = [device(), device()];
      const conversation = unique("conv");
      await store().put([a.entry(1, conversation), b.entry(2, conversation), b.entry(3, conversation)]);
      expect(numbers(await store().list(a.user_id, a.device_id, null, 10))).toEqual([1]);
      expect(await store().count(b.user_id, b.device_id)).toBe(2);
      expect(await store().list(a.user_id, b.device_id, null, 10)).toEqual([]);
      await store().remove(a.user_id, a.device_id, conversation, messageId(2));
      expect(await store().count(b.user_id, b.device_id)).toBe(2);
    }, timeout);

    it("drops every entry of a removed device, and only that device's", async () => {
      const [gone, kept] = [device(), device()];
      const [c1, c2] = [unique("conv"), unique("conv")];
      await store().put([gone.entry(1, c1), gone.entry(2, c2), gone.entry(3, c2), kept.entry(4, c1)]);
      await store().remove(gone.user_id, gone.device_id, c2, messageId(3));
      await store().removeDevice(gone.user_id, gone.device_id);
      expect(await store().list(gone.user_id, gone.device_id, null, 10)).toEqual([]);
      expect(await store().listConversation(gone.user_id, gone.device_id, c2, null, 10)).toEqual([]);
      expect(await store().count(gone.user_id, gone.device_id)).toBe(0);
      expect(numbers(await store().list(kept.user_id, kept.device_id, null, 10))).toEqual([4]);
      await store().removeDevice(gone.user_id, gone.device_id);
      await store().removeDevice(unique("user"), unique("device"));
      expect(await store().count(kept.user_id, kept.device_id)).toBe(1);
    }, timeout);

    it("removes an entry from list, listConversation and count, and leaves the others", async () => {
      const d = device();
      const conversation = unique("conv");
      await store().put([1, 2, 3].map((n) => d.entry(n, conversation)));
      await store().remove(d.user_id, d.device_id, conversation, messageId(2));
      expect(numbers(await store().list(d.user_id, d.device_id, null, 10))).toEqual([1, 3]);
      expect(numbers(await store().listConversation(d.user_id, d.device_id, conversation, null, 10))).toEqual([1, 3]);
      expect(await store().count(d.user_id, d.device_id)).toBe(2);
      await store().remove(d.user_id, d.device_id, conversation, messageId(2));
      await store().remove(d.user_id, d.device_id, conversation, messageId(99));
      expect(await store().count(d.user_id, d.device_id)).toBe(2);
    }, timeout);

    it("is a two-phase set: a removed entry never comes back when it is put again", async () => {
      const d = device();
      const conversation = unique("conv");
      await store().put([d.entry(1, conversation), d.entry(2, conversation)]);
      await store().remove(d.user_id, d.device_id, conversation, messageId(1));
      await store().put([d.entry(1, conversation), d.entry(1, conversation, "changed")]);
      expect(numbers(await store().list(d.user_id, d.device_id, null, 10))).toEqual([2]);
      expect(await store().listConversation(d.user_id, d.device_id, conversation, null, 10)).toEqual([d.entry(2, conversation)]);
      expect(await store().count(d.user_id, d.device_id)).toBe(1);
    }, timeout);

    it("keeps a remove that came before the put: the put that follows is a no-op", async () => {
      const d = device();
      const conversation = unique("conv");
      await store().remove(d.user_id, d.device_id, conversation, messageId(7));
      await store().put([d.entry(7, conversation), d.entry(8, conversation)]);
      expect(numbers(await store().list(d.user_id, d.device_id, null, 10))).toEqual([8]);
      expect(await store().count(d.user_id, d.device_id)).toBe(1);
    }, timeout);
  });
}
