/**
 * Who orders a conversation: the log partition, numbered by its own chain.
 *
 * The decision. A conversation's order is the order of its send records in its log
 * partition (the conversation ID is the key, so one conversation is one partition). Each log
 * partition numbers its send records with its own Snowflake chain: machine bits = the
 * partition, and for each send record in offset order the next ID at the record's
 * `accepted_at_ms` (snowflake.ts: strictly increasing whatever that clock does). So a
 * record's message ID is a pure function of the log: its partition's records up to it and
 * where the chain stood at the first of them. Nothing about the router that numbers it (its
 * clock, its machine number, a lease) enters it.
 *
 * Where the chain starts. A router that starts a partition in a consumer-group generation
 * starts at the group's committed offset c, and loads the checkpoint (p, c): the chain's
 * state after the last send below c. Every commit writes its checkpoints before it commits
 * (step.ts, maybeCommit), so a committed offset has one; none (a new partition, or offsets
 * committed before this scheme) means the chain's initial state, the same for every reader.
 * By induction over the partition's records, every router that numbers a record, whether
 * the owner, a stale router still working after its partition moved, or a router handling it
 * again after a crash, gives it the same ID.
 *
 * Why this replaces the per-message claim (a Paxos round in Cassandra). Deduplication is
 * per (sender, conversation, client_msg_id), so every send carrying a key passes through one
 * partition in order. A router handles a conversation's records one at a time, in order:
 * before it makes record n a message it looks the key up; a record before n with that key
 * (a client's retry arrives after its original) was finished before n started, by this
 * router or (below the committed offset) by the one that committed it, so its dedup record
 * is there. Absent, record n writes its own with a plain write, next to the message. Two
 * routers handling n at once (a stale one and the owner) compute the same ID, the same
 * previous ID and the same rows, so their writes are idempotent repeats, and offset commits
 * stay fenced by the consumer-group generation. First writer wins, with no conditional write.
 *
 * Why IDs stay in order and unique. Within a partition the chain strictly increases with the
 * offset, so a conversation's IDs follow its log order, and they are unique: the machine
 * bits are the partition's (at most 1,024 partitions), the chain is one sequence per
 * partition. Sender FIFO holds because a sender's next send is only invoked after the
 * previous one's `sent`, which follows its append: log order respects it whatever the
 * gateways' clocks say (the chain's clock only runs ahead, never back).
 *
 * The previous ID. `prev_message_id` is the conversation's greatest message ID below the
 * record's own ID: loaded from the store for the first send of a conversation in a
 * generation (greater IDs a stale router may have written already belong to later records),
 * then carried in the floor cache. The floor cache is bounded (least recently used entries
 * are dropped and re-read on next use), and an entry is only good for the consumer-group
 * generation that wrote it: a router that loses a partition and later gets it back must not
 * trust what it cached before (the simulator found exactly that once).
 */
import type { IdCheckpoint } from "../model.js";
import { snowflakeInit, snowflakeNext, type SnowflakeState } from "../ids/snowflake.js";

export type FloorCache = {
  /** conversation_id -> greatest message ID known in it, and the generation that learned it; Map order is recency. */
  readonly floors: Map<string, { floor: string | null; generation: number }>;
  readonly max_entries: number;
};

export function floorCacheInit(max_entries: number): FloorCache {
  return { floors: new Map(), max_entries };
}

/** undefined: unknown here for this generation, load it from the store. */
export function floorGet(cache: FloorCache, conversation_id: string, generation: number): string | null | undefined {
  const entry = cache.floors.get(conversation_id);
  if (entry === undefined || entry.generation !== generation) return undefined;
  cache.floors.delete(conversation_id);
  cache.floors.set(conversation_id, entry);
  return entry.floor;
}

/** Raises the floor (never lowers it) within a generation; a new generation starts over. */
export function floorRaise(cache: FloorCache, conversation_id: string, message_id: string | null, generation: number): void {
  const entry = cache.floors.get(conversation_id);
  cache.floors.delete(conversation_id);
  const current = entry === undefined || entry.generation !== generation ? null : entry.floor;
  const next = current === null ? message_id : message_id === null || message_id <= current ? current : message_id;
  cache.floors.set(conversation_id, { floor: next, generation });
  if (cache.floors.size > cache.max_entries) {
    const oldest = cache.floors.keys().next();
    if (!oldest.done) cache.floors.delete(oldest.value);
  }
}

/** A candidate ID for a new message above `floor`, from the router's generator at `now_ms`. */
export function nextMessageId(
  generator: SnowflakeState,
  now_ms: number,
  floor: string | null,
): { generator: SnowflakeState; message_id: string } {
  const next = snowflakeNext(generator, now_ms, floor);
  return { generator: next.state, message_id: next.id };
}

/** A partition's chain where `checkpoint` says it stood (its initial state when none). */
export function chainInit(partition: number, checkpoint: IdCheckpoint | null): SnowflakeState {
  const initial = snowflakeInit(partition);
  return checkpoint === null ? initial : { machine: initial.machine, last_ms: checkpoint.last_ms, sequence: checkpoint.sequence };
}

/** The ID of a partition's next send record, accepted by its gateway at `accepted_at_ms`. */
export function chainNext(chain: SnowflakeState, accepted_at_ms: number): { state: SnowflakeState; id: string } {
  return snowflakeNext(chain, accepted_at_ms, null);
}

/**
 * A send's digest: its type and content, hashed (two 32-bit FNV-1a lanes, 16 hex digits). Two
 * sends with one key and different digests are a reuse, not a retry; equal digests of
 * different content (odds about 1 in 2^64) would answer the original's `sent`.
 */
export function sendDigest(type: string, content: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  const text = `${type}\u0000${content}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}
