/**
 * The MessageStore contract (core/ports/message-store.ts), as vitest tests that every
 * MessageStore must pass: memory, simulated, SQLite, and Cassandra/ScyllaDB for real.
 *
 * Rules of this suite: it speaks only the port and the harness; every test works in its own
 * conversations, users, senders and message IDs (a run tag plus a counter), so a server
 * that keeps data between tests and runs cannot make a test pass or fail. Message IDs are
 * real 19-digit Snowflake IDs (core/ids), the only form the stores ever see. The store is
 * used sequentially (each write awaited), so no rule here depends on racing writers.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MessageStore } from "../../core/ports/message-store.js";
import type { DedupClaim, IdCheckpoint, InboxEntry, ReceiptRow, SendClaim, StoredMessage } from "../../core/model.js";
import { directConversationId, groupConversationId, snowflakeFormat } from "../../core/ids/index.js";

export type MessageStoreHarness = {
  readonly store: MessageStore;
  /** Closes the store and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type MessageStoreContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

/** 2025-06-15 in Snowflake milliseconds (since 2025-01-01), a plausible time for IDs. */
const ID_BASE_MS = 14_256_000_000;

export function describeMessageStoreContract(
  name: string,
  factory: () => Promise<MessageStoreHarness>,
  options: MessageStoreContractOptions = {},
): void {
  describe(`MessageStore contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;
    /** Message IDs `step` apart, so that a test can name an ID between two stored ones. */
    const ids = (count: number, step = 10): string[] => {
      const machine = Math.floor(Math.random() * 1024);
      const base = ID_BASE_MS + Math.floor(Math.random() * 1_000_000) * 1_000;
      return Array.from({ length: count }, (_, i) => snowflakeFormat({ ms: base + i * step, machine, sequence: 0 }));
    };
    const between = (low: string, high: string): string => {
      const value = (BigInt(low) + BigInt(high)) / 2n;
      const id = value.toString().padStart(19, "0");
      expect(id > low && id < high).toBe(true);
      return id;
    };

    let harness: MessageStoreHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const store = (): MessageStore => {
      if (harness === null) throw new Error("MessageStore contract: the harness is not open");
      return harness.store;
    };

    const message = (conversation_id: string, message_id: string, sender_id: string, n = 0, prev_message_id: string | null = null): StoredMessage => ({
      message_id,
      conversation_id,
      sender_id,
      sender_device_id: `${sender_id}-dev`,
      group_id: null,
      content: `message ${n} ${randomUUID()}`,
      type: "text",
      client_msg_id: randomUUID(),
      sent_at_ms: 1_750_000_000_000 + n,
      prev_message_id,
    });

    const conversation = (): { conversation_id: string; alice: string; bob: string } => {
      const alice = unique("alice");
      const bob = unique("bob");
      return { conversation_id: directConversationId(alice, bob), alice, bob };
    };

    const put = async (conversation_id: string, message_ids: readonly string[], senders: readonly string[]): Promise<StoredMessage[]> => {
      const stored: StoredMessage[] = [];
      const ascending = [...message_ids].sort();
      for (const [i, message_id] of message_ids.entries()) {
        const prev = ascending[ascending.indexOf(message_id) - 1] ?? null;
        const m = message(conversation_id, message_id, senders[i % senders.length] as string, i, prev);
        await store().putMessage(m);
        stored.push(m);
      }
      return stored;
    };

    const byUser = (rows: readonly ReceiptRow[]): ReceiptRow[] => [...rows].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));

    const timeout = options.test_timeout_ms;

    it(
      "stores a message under (conversation_id, message_id) and answers null for absent ones",
      async () => {
        const { conversation_id, alice } = conversation();
        const [id, other] = ids(2);
        const m = message(conversation_id, id as string, alice);
        await store().putMessage(m);
        expect(await store().getMessage(conversation_id, id as string)).toEqual(m);
        expect(await store().getMessage(conversation_id, other as string)).toBeNull();
        expect(await store().getMessage(conversation().conversation_id, id as string)).toBeNull();

        const group_id = unique("grp");
        const in_group: StoredMessage = { ...message(groupConversationId(group_id), other as string, alice, 1, id as string), group_id, type: "image" };
        await store().putMessage(in_group);
        expect(await store().getMessage(in_group.conversation_id, in_group.message_id)).toEqual(in_group);
      },
      timeout,
    );

    it(
      "treats a repeated putMessage as a no-op",
      async () => {
        const { conversation_id, alice, bob } = conversation();
        const [first, second] = ids(2);
        const m = message(conversation_id, first as string, alice);
        await store().putMessage(m);
        await store().putMessage(m);
        await store().putMessage({ ...m });
        await put(conversation_id, [second as string], [bob]);
        const page = await store().history(conversation_id, null, 10);
        expect(page.map((x) => x.message_id)).toEqual([second, first]);
        expect(page[1]).toEqual(m);
        expect(await store().countAfter(conversation_id, null, bob)).toBe(1);
      },
      timeout,
    );

    it(
      "pages history newest first, strictly before the cursor, at most limit per page",
      async () => {
        const { conversation_id, alice, bob } = conversation();
        const message_ids = ids(7);
        // Written out of order: the store orders by message_id, not by arrival.
        const order = [3, 0, 6, 1, 5, 2, 4];
        const stored = await put(
          conversation_id,
          order.map((i) => message_ids[i] as string),
          [alice, bob],
        );
        const want = (...indexes: number[]): string[] => indexes.map((i) => message_ids[i] as string);

        const newest = await store().history(conversation_id, null, 3);
        expect(newest.map((m) => m.message_id)).toEqual(want(6, 5, 4));
        expect(newest[0]).toEqual(stored.find((m) => m.message_id === message_ids[6]));
        expect((await store().history(conversation_id, message_ids[4] as string, 3)).map((m) => m.message_id)).toEqual(want(3, 2, 1));
        expect((await store().history(conversation_id, message_ids[1] as string, 3)).map((m) => m.message_id)).toEqual(want(0));
        expect(await store().history(conversation_id, message_ids[0] as string, 3)).toEqual([]);
        // A cursor that is not a stored ID works too, and `before` is exclusive.
        const cursor = between(message_ids[4] as string, message_ids[5] as string);
        expect((await store().history(conversation_id, cursor, 2)).map((m) => m.message_id)).toEqual(want(4, 3));
        expect((await store().history(conversation_id, null, 100)).map((m) => m.message_id)).toEqual(want(6, 5, 4, 3, 2, 1, 0));
        expect(await store().history(conversation().conversation_id, null, 10)).toEqual([]);
      },
      timeout,
    );

    it(
      "keeps conversations apart in history, lastMessageId and countAfter",
      async () => {
        const one = conversation();
        const two = conversation();
        const [a, b, c] = ids(3);
        await put(one.conversation_id, [a as string, c as string], [one.alice]);
        await put(two.conversation_id, [b as string], [two.alice]);
        expect((await store().history(one.conversation_id, null, 10)).map((m) => m.message_id)).toEqual([c, a]);
        expect((await store().history(two.conversation_id, null, 10)).map((m) => m.message_id)).toEqual([b]);
        expect(await store().lastMessageId(two.conversation_id)).toBe(b);
        expect(await store().countAfter(two.conversation_id, null, "nobody")).toBe(1);
      },
      timeout,
    );

    it(
      "answers the greatest stored message_id as lastMessageId, null when empty",
      async () => {
        const { conversation_id, alice } = conversation();
        expect(await store().lastMessageId(conversation_id)).toBeNull();
        const [low, mid, high] = ids(3);
        await put(conversation_id, [mid as string], [alice]);
        expect(await store().lastMessageId(conversation_id)).toBe(mid);
        await put(conversation_id, [high as string, low as string], [alice]);
        expect(await store().lastMessageId(conversation_id)).toBe(high);
      },
      timeout,
    );

    it(
      "counts messages strictly after a message_id, leaving out the excluded sender",
      async () => {
        const { conversation_id, alice, bob } = conversation();
        const message_ids = ids(6);
        // Senders: alice, bob, alice, bob, alice, bob.
        await put(conversation_id, message_ids, [alice, bob]);
        expect(await store().countAfter(conversation_id, null, alice)).toBe(3);
        expect(await store().countAfter(conversation_id, null, bob)).toBe(3);
        expect(await store().countAfter(conversation_id, null, unique("carol"))).toBe(6);
        expect(await store().countAfter(conversation_id, message_ids[1] as string, alice)).toBe(2);
        expect(await store().countAfter(conversation_id, message_ids[2] as string, alice)).toBe(2);
        expect(await store().countAfter(conversation_id, message_ids[2] as string, bob)).toBe(1);
        expect(await store().countAfter(conversation_id, message_ids[5] as string, alice)).toBe(0);
        expect(await store().countAfter(conversation_id, between(message_ids[3] as string, message_ids[4] as string), unique("carol"))).toBe(2);
        expect(await store().countAfter(conversation().conversation_id, null, alice)).toBe(0);
      },
      timeout,
    );

    it(
      "lets the first claim of (sender_id, client_msg_id) win and answers the winner, position included",
      async () => {
        const sender_id = unique("sender");
        const client_msg_id = randomUUID();
        const [first_id, second_id] = ids(2);
        const { conversation_id } = conversation();
        expect(await store().getClaim(sender_id, client_msg_id)).toBeNull();

        const first: DedupClaim = {
          sender_id,
          client_msg_id,
          message_id: first_id as string,
          conversation_id,
          prev_message_id: null,
          position: { partition: 3, offset: 41 },
        };
        expect(await store().claim(first)).toEqual(first);
        const second: DedupClaim = { ...first, message_id: second_id as string, prev_message_id: first_id as string, position: { partition: 5, offset: 99 } };
        expect(await store().claim(second)).toEqual(first);
        expect(await store().claim(first)).toEqual(first);
        expect(await store().getClaim(sender_id, client_msg_id)).toEqual(first);
      },
      timeout,
    );

    it(
      "keeps claims of different senders or client_msg_ids apart",
      async () => {
        const alice = unique("sender");
        const bob = unique("sender");
        const client_msg_id = randomUUID();
        const other_client_msg_id = randomUUID();
        const [a, b, c] = ids(3);
        const { conversation_id } = conversation();
        const claim = (sender_id: string, cmid: string, message_id: string, offset: number): DedupClaim => ({
          sender_id,
          client_msg_id: cmid,
          message_id,
          conversation_id,
          prev_message_id: offset === 1 ? null : (a as string),
          position: { partition: 0, offset },
        });
        expect(await store().claim(claim(alice, client_msg_id, a as string, 1))).toEqual(claim(alice, client_msg_id, a as string, 1));
        expect(await store().claim(claim(bob, client_msg_id, b as string, 2))).toEqual(claim(bob, client_msg_id, b as string, 2));
        expect(await store().claim(claim(alice, other_client_msg_id, c as string, 3))).toEqual(claim(alice, other_client_msg_id, c as string, 3));
        expect(await store().getClaim(bob, client_msg_id)).toEqual(claim(bob, client_msg_id, b as string, 2));
        expect(await store().getClaim(bob, other_client_msg_id)).toBeNull();
      },
      timeout,
    );

    it(
      "keeps a send claim per (sender, conversation, client_msg_id), digest and position included",
      async () => {
        const sender_id = unique("sender");
        const client_msg_id = randomUUID();
        const [a, b] = ids(2);
        const one = conversation().conversation_id;
        const two = conversation().conversation_id;
        expect(await store().findSendClaim(sender_id, one, client_msg_id)).toBeNull();
        const first: SendClaim = { sender_id, client_msg_id, message_id: a as string, conversation_id: one, prev_message_id: null, position: { partition: 2, offset: 7 }, digest: "0123456789abcdef", members: null };
        await store().putSendClaim(first);
        await store().putSendClaim(first); // a repeat changes nothing
        expect(await store().findSendClaim(sender_id, one, client_msg_id)).toEqual(first);
        // The same key in another conversation is another claim.
        expect(await store().findSendClaim(sender_id, two, client_msg_id)).toBeNull();
        const second: SendClaim = { ...first, conversation_id: two, message_id: b as string, prev_message_id: a as string, position: { partition: 4, offset: 9 } };
        await store().putSendClaim(second);
        expect(await store().findSendClaim(sender_id, two, client_msg_id)).toEqual(second);
        expect(await store().findSendClaim(sender_id, one, client_msg_id)).toEqual(first);
        expect(await store().findSendClaim(unique("sender"), one, client_msg_id)).toBeNull();
      },
      timeout,
    );

    it(
      "keeps a group send's audience with its dedup record, in order and whole, apart from the caller's array",
      async () => {
        const sender_id = unique("sender");
        const client_msg_id = randomUUID();
        const [first_id] = ids(1);
        const conversation_id = `g.${unique("group")}`;
        // groupMembersMax (500) members, the largest audience a record carries, the sender first.
        const members = [sender_id, ...Array.from({ length: 499 }, (_, i) => `${unique("member")}-${String(499 - i).padStart(3, "0")}`)];
        const given = [...members];
        const claim: SendClaim = { sender_id, client_msg_id, message_id: first_id as string, conversation_id, prev_message_id: null, position: { partition: 1, offset: 5 }, digest: "fedcba9876543210", members: given };
        await store().putSendClaim(claim);
        given.reverse(); // The caller's array is not the stored audience.
        expect(await store().findSendClaim(sender_id, conversation_id, client_msg_id)).toEqual({ ...claim, members });
        // A refusal: an audience without the sender, kept as given (an empty group included).
        const refused: SendClaim = { ...claim, client_msg_id: randomUUID(), members: [] };
        await store().putSendClaim(refused);
        expect(await store().findSendClaim(sender_id, conversation_id, refused.client_msg_id)).toEqual(refused);
      },
      timeout,
    );

    it(
      "stores ID checkpoints per (partition, offset) and reads back exactly the one asked for",
      async () => {
        // Partitions and offsets this run alone uses (the table is shared by runs on a server).
        const partition = Math.floor(Math.random() * 1024);
        const offset = Math.floor(Math.random() * 1e12);
        const at = (o: number, last_ms: number, sequence: number): IdCheckpoint => ({ partition, offset: o, last_ms, sequence });
        expect(await store().idCheckpoint(partition, offset)).toBeNull();
        await store().putIdCheckpoints([at(offset, ID_BASE_MS, 3), { ...at(offset, ID_BASE_MS + 5, 0), partition: (partition + 1) % 1024 }]);
        await store().putIdCheckpoints([at(offset + 10, ID_BASE_MS + 9, 4095)]);
        await store().putIdCheckpoints([at(offset, ID_BASE_MS, 3)]); // a repeat changes nothing
        expect(await store().idCheckpoint(partition, offset)).toEqual(at(offset, ID_BASE_MS, 3));
        expect(await store().idCheckpoint(partition, offset + 10)).toEqual(at(offset + 10, ID_BASE_MS + 9, 4095));
        expect(await store().idCheckpoint((partition + 1) % 1024, offset)).toEqual({ ...at(offset, ID_BASE_MS + 5, 0), partition: (partition + 1) % 1024 });
        expect(await store().idCheckpoint(partition, offset + 1)).toBeNull();
      },
      timeout,
    );

    it(
      "moves a receipt only forwards (sent < delivered < read) and answers the furthest",
      async () => {
        const [message_id] = ids(1);
        const id = message_id as string;
        const user = unique("reader");
        expect(await store().advanceReceipt(id, user, "sent")).toBe("sent");
        expect(await store().advanceReceipt(id, user, "delivered")).toBe("delivered");
        expect(await store().advanceReceipt(id, user, "sent")).toBe("delivered");
        expect(await store().advanceReceipt(id, user, "delivered")).toBe("delivered");
        expect(await store().advanceReceipt(id, user, "read")).toBe("read");
        expect(await store().advanceReceipt(id, user, "delivered")).toBe("read");
        expect(await store().advanceReceipt(id, user, "sent")).toBe("read");
        expect(await store().receipts(id)).toEqual([{ user_id: user, status: "read" }]);

        // A first receipt may skip steps.
        const skipper = unique("reader");
        expect(await store().advanceReceipt(id, skipper, "read")).toBe("read");
        expect(await store().advanceReceipt(id, skipper, "sent")).toBe("read");
      },
      timeout,
    );

    it(
      "lists one receipt row per user of a message, and none for an unknown message",
      async () => {
        const [message_id, other_id] = ids(2);
        const id = message_id as string;
        const [u1, u2, u3] = [unique("reader"), unique("reader"), unique("reader")];
        await store().advanceReceipt(id, u1 as string, "delivered");
        await store().advanceReceipt(id, u2 as string, "sent");
        await store().advanceReceipt(id, u3 as string, "read");
        await store().advanceReceipt(id, u2 as string, "delivered");
        await store().advanceReceipt(other_id as string, u1 as string, "read");
        expect(byUser(await store().receipts(id))).toEqual(
          byUser([
            { user_id: u1 as string, status: "delivered" },
            { user_id: u2 as string, status: "delivered" },
            { user_id: u3 as string, status: "read" },
          ]),
        );
        expect(await store().receipts(ids(1)[0] as string)).toEqual([]);
      },
      timeout,
    );

    const inboxEntry = (user_id: string, conversation_id: string, last_message_id: string, n = 0): InboxEntry => ({
      user_id,
      conversation_id,
      kind: "direct",
      other_user_id: `peer-${n}`,
      group_id: null,
      last_message_id,
      last_message_at_ms: 1_750_000_000_000 + n,
      last_message_preview: `preview ${n}`,
    });

    it(
      "keeps, per (user, conversation), the inbox entry with the greatest last_message_id",
      async () => {
        const user = unique("owner");
        const { conversation_id } = conversation();
        const [m1, m2, m3] = ids(3);
        const second = inboxEntry(user, conversation_id, m2 as string, 2);
        await store().touchInbox(second);
        await store().touchInbox(inboxEntry(user, conversation_id, m1 as string, 1));
        expect(await store().inbox(user, null, 10)).toEqual([second]);
        await store().touchInbox(second);
        expect(await store().inbox(user, null, 10)).toEqual([second]);
        const third: InboxEntry = { ...inboxEntry(user, conversation_id, m3 as string, 3), kind: "group", other_user_id: null, group_id: unique("grp") };
        await store().touchInbox(third);
        expect(await store().inbox(user, null, 10)).toEqual([third]);
      },
      timeout,
    );

    it(
      "lists a user's inbox by last_message_id descending, strictly below the cursor, at most limit",
      async () => {
        const user = unique("owner");
        const message_ids = ids(5);
        const entries = message_ids.map((id, i) => inboxEntry(user, conversation().conversation_id, id, i));
        for (const i of [2, 0, 4, 1, 3]) await store().touchInbox(entries[i] as InboxEntry);
        await store().touchInbox(inboxEntry(unique("stranger"), conversation().conversation_id, message_ids[4] as string));
        const want = (...indexes: number[]): InboxEntry[] => indexes.map((i) => entries[i] as InboxEntry);

        expect(await store().inbox(user, null, 2)).toEqual(want(4, 3));
        expect(await store().inbox(user, message_ids[3] as string, 2)).toEqual(want(2, 1));
        expect(await store().inbox(user, message_ids[1] as string, 2)).toEqual(want(0));
        expect(await store().inbox(user, message_ids[0] as string, 2)).toEqual([]);
        expect(await store().inbox(user, between(message_ids[2] as string, message_ids[3] as string), 10)).toEqual(want(2, 1, 0));
        expect(await store().inbox(user, null, 10)).toEqual(want(4, 3, 2, 1, 0));
        expect(await store().inbox(unique("nobody"), null, 10)).toEqual([]);
      },
      timeout,
    );

    it(
      "moves a conversation to the top of the inbox when a newer message touches it",
      async () => {
        const user = unique("owner");
        const [m1, m2, m3] = ids(3);
        const quiet = conversation().conversation_id;
        const busy = conversation().conversation_id;
        await store().touchInbox(inboxEntry(user, busy, m1 as string, 1));
        await store().touchInbox(inboxEntry(user, quiet, m2 as string, 2));
        expect((await store().inbox(user, null, 10)).map((e) => e.conversation_id)).toEqual([quiet, busy]);
        await store().touchInbox(inboxEntry(user, busy, m3 as string, 3));
        const listed = await store().inbox(user, null, 10);
        expect(listed.map((e) => [e.conversation_id, e.last_message_id])).toEqual([
          [busy, m3],
          [quiet, m2],
        ]);
      },
      timeout,
    );

    it(
      "keeps the greatest message_id marked read per (user, conversation)",
      async () => {
        const user = unique("reader");
        const one = conversation().conversation_id;
        const two = conversation().conversation_id;
        const [m1, m2, m3] = ids(3);
        expect(await store().readUpTo(user, one)).toBeNull();
        await store().markRead(user, one, m2 as string);
        expect(await store().readUpTo(user, one)).toBe(m2);
        await store().markRead(user, one, m1 as string);
        expect(await store().readUpTo(user, one)).toBe(m2);
        await store().markRead(user, one, m3 as string);
        expect(await store().readUpTo(user, one)).toBe(m3);
        expect(await store().readUpTo(user, two)).toBeNull();
        expect(await store().readUpTo(unique("reader"), one)).toBeNull();
      },
      timeout,
    );

    it(
      "links a media to every conversation it was sent in, once each, and pages them in order",
      async () => {
        const media = unique("m");
        const other = unique("m");
        const conversations = [conversation().conversation_id, conversation().conversation_id, groupConversationId(unique("g"))].sort();
        expect(await store().mediaConversations(media, null, 10)).toEqual([]);
        for (const c of [...conversations].reverse()) await store().linkMedia(media, c);
        await store().linkMedia(media, conversations[0] as string);
        await store().linkMedia(other, conversations[1] as string);
        expect(await store().mediaConversations(media, null, 10)).toEqual(conversations);
        expect(await store().mediaConversations(media, null, 2)).toEqual(conversations.slice(0, 2));
        expect(await store().mediaConversations(media, conversations[1] as string, 10)).toEqual(conversations.slice(2));
        expect(await store().mediaConversations(media, conversations[2] as string, 10)).toEqual([]);
        expect(await store().mediaConversations(other, null, 10)).toEqual([conversations[1]]);
        expect(await store().mediaConversations(unique("m"), null, 10)).toEqual([]);
      },
      timeout,
    );
  });
}
