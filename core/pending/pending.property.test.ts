/**
 * The pending core against the simplest model that states the rules (a Map of live entries
 * and a Set of tombstones, sorted on every read): any sequence of puts, removes, trims and
 * reads gives the model's answers, and a removed entry never comes back.
 *
 * Replay a failure with FC_SEED=<seed printed in the test name or the failure report>;
 * FC_RUNS=<n> runs more (or fewer) cases than the default.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../model.js";
import type { PendingCursor } from "../ports/pending-store.js";
import {
  pendingCount,
  pendingForgetTombstonesBefore,
  pendingInit,
  pendingList,
  pendingListConversation,
  pendingPut,
  pendingRemove,
} from "./index.js";

const seed = Number(process.env.FC_SEED ?? 27_182_818);
const numRuns = Number(process.env.FC_RUNS ?? 300);

const USERS = ["alice", "bob"] as const;
const DEVICES = ["d1", "d2"] as const;
const CONVERSATIONS = ["c0", "c1", "c2"] as const;

const id = (n: number): string => String(n).padStart(19, "0");
/** A message belongs to one conversation, as in the real system. */
const conversationOf = (n: number): string => CONVERSATIONS[n % CONVERSATIONS.length] as string;

function entry(user_id: string, device_id: string, n: number, version: number): PendingEntry {
  return {
    user_id,
    device_id,
    message: {
      message_id: id(n),
      conversation_id: conversationOf(n),
      sender_id: "sender",
      sender_device_id: "sd",
      group_id: null,
      content: `m${n}v${version}`,
      type: "text",
      client_msg_id: `k${n}`,
      sent_at_ms: n,
      prev_message_id: null,
    },
  };
}

type Command =
  | { kind: "put"; items: Array<{ user_id: string; device_id: string; n: number; version: number }> }
  /** `conversation_id` is usually the message's own, sometimes another (a remove that matches nothing). */
  | { kind: "remove"; user_id: string; device_id: string; n: number; conversation_id: string | null }
  | { kind: "list"; user_id: string; device_id: string; cursor: { conversation_id: string; n: number } | null; limit: number }
  | { kind: "list_conversation"; user_id: string; device_id: string; conversation_id: string; after: number | null; limit: number }
  | { kind: "count"; user_id: string; device_id: string }
  | { kind: "forget"; before: number };

const userArb = fc.constantFrom(...USERS);
const deviceArb = fc.constantFrom(...DEVICES);
/** Few IDs, few keys: removes and puts of the same entry must meet often. */
const nArb = fc.integer({ min: 0, max: 11 });
/** Cursors also fall between and beyond the conversations that exist. */
const cursorConversationArb = fc.constantFrom(...CONVERSATIONS, "c", "c05", "c9");
const limitArb = fc.integer({ min: 0, max: 8 });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      items: fc.array(fc.record({ user_id: userArb, device_id: deviceArb, n: nArb, version: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 5 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      user_id: userArb,
      device_id: deviceArb,
      n: nArb,
      conversation_id: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...CONVERSATIONS) }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("list" as const),
      user_id: userArb,
      device_id: deviceArb,
      cursor: fc.option(fc.record({ conversation_id: cursorConversationArb, n: nArb }), { freq: 3 }),
      limit: limitArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("list_conversation" as const),
      user_id: userArb,
      device_id: deviceArb,
      conversation_id: fc.constantFrom(...CONVERSATIONS),
      after: fc.option(nArb, { freq: 3 }),
      limit: limitArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("count" as const), user_id: userArb, device_id: deviceArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forget" as const), before: nArb }) },
);

/** The rules, stated plainly: a map of live entries, a set of tombstones, sort on read. */
class Model {
  readonly live = new Map<string, PendingEntry>();
  readonly tombstones = new Set<string>();

  static key(user_id: string, device_id: string, conversation_id: string, message_id: string): string {
    return JSON.stringify([user_id, device_id, conversation_id, message_id]);
  }

  put(entry: PendingEntry): void {
    const key = Model.key(entry.user_id, entry.device_id, entry.message.conversation_id, entry.message.message_id);
    if (this.tombstones.has(key) || this.live.has(key)) return;
    this.live.set(key, entry);
  }

  remove(user_id: string, device_id: string, conversation_id: string, message_id: string): void {
    const key = Model.key(user_id, device_id, conversation_id, message_id);
    this.tombstones.add(key);
    this.live.delete(key);
  }

  forget(before_message_id: string): void {
    for (const key of this.tombstones) {
      const [, , , message_id] = JSON.parse(key) as [string, string, string, string];
      if (message_id < before_message_id) this.tombstones.delete(key);
    }
  }

  device(user_id: string, device_id: string): PendingEntry[] {
    return [...this.live.values()]
      .filter((e) => e.user_id === user_id && e.device_id === device_id)
      .sort((a, b) =>
        a.message.conversation_id !== b.message.conversation_id
          ? a.message.conversation_id < b.message.conversation_id ? -1 : 1
          : a.message.message_id < b.message.message_id ? -1 : 1,
      );
  }

  list(user_id: string, device_id: string, after: PendingCursor | null, limit: number): PendingEntry[] {
    const isAfter = (e: PendingEntry): boolean =>
      after === null ||
      e.message.conversation_id > after.conversation_id ||
      (e.message.conversation_id === after.conversation_id && e.message.message_id > after.message_id);
    return this.device(user_id, device_id).filter(isAfter).slice(0, limit);
  }

  listConversation(user_id: string, device_id: string, conversation_id: string, after: string | null, limit: number): PendingEntry[] {
    return this.device(user_id, device_id)
      .filter((e) => e.message.conversation_id === conversation_id && (after === null || e.message.message_id > after))
      .slice(0, limit);
  }
}

function pageThrough(list: (after: PendingCursor | null) => PendingEntry[]): PendingEntry[] {
  const seen: PendingEntry[] = [];
  for (let page = list(null); page.length > 0; ) {
    seen.push(...page);
    const last = page[page.length - 1] as PendingEntry;
    page = list({ conversation_id: last.message.conversation_id, message_id: last.message.message_id });
  }
  return seen;
}

describe("pending properties", () => {
  it(`any sequence of puts, removes, trims and reads answers as the model does; a removed entry never returns (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 80, size: "medium" }), fc.integer({ min: 1, max: 5 }), (commands, page_limit) => {
        const state = pendingInit();
        const model = new Model();
        for (const command of commands) {
          switch (command.kind) {
            case "put": {
              const entries = command.items.map((item) => entry(item.user_id, item.device_id, item.n, item.version));
              const before = model.live.size;
              entries.forEach((e) => model.put(e));
              expect(pendingPut(state, entries)).toBe(model.live.size - before);
              break;
            }
            case "remove": {
              const conversation_id = command.conversation_id ?? conversationOf(command.n);
              const key = Model.key(command.user_id, command.device_id, conversation_id, id(command.n));
              const was_live = model.live.has(key);
              model.remove(command.user_id, command.device_id, conversation_id, id(command.n));
              expect(pendingRemove(state, command.user_id, command.device_id, conversation_id, id(command.n))).toBe(was_live);
              break;
            }
            case "list": {
              const after = command.cursor === null ? null : { conversation_id: command.cursor.conversation_id, message_id: id(command.cursor.n) };
              const got = pendingList(state, command.user_id, command.device_id, after, command.limit);
              expect(got).toEqual(model.list(command.user_id, command.device_id, after, command.limit));
              for (const e of got) {
                expect(model.tombstones.has(Model.key(e.user_id, e.device_id, e.message.conversation_id, e.message.message_id))).toBe(false);
              }
              break;
            }
            case "list_conversation": {
              const after = command.after === null ? null : id(command.after);
              expect(pendingListConversation(state, command.user_id, command.device_id, command.conversation_id, after, command.limit)).toEqual(
                model.listConversation(command.user_id, command.device_id, command.conversation_id, after, command.limit),
              );
              break;
            }
            case "count":
              expect(pendingCount(state, command.user_id, command.device_id)).toBe(model.device(command.user_id, command.device_id).length);
              break;
            case "forget":
              model.forget(id(command.before));
              pendingForgetTombstonesBefore(state, id(command.before));
              break;
          }
        }
        // Paging with any page size walks every live entry once, in order.
        for (const user_id of USERS) {
          for (const device_id of DEVICES) {
            const paged = pageThrough((after) => pendingList(state, user_id, device_id, after, page_limit));
            expect(paged).toEqual(model.device(user_id, device_id));
            expect(pendingCount(state, user_id, device_id)).toBe(paged.length);
          }
        }
      }),
      { seed, numRuns },
    );
  });
});
