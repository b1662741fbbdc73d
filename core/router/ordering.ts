/**
 * Who orders a conversation: the log partition, numbered by the router.
 *
 * The decision. A conversation's order is the order of its send records in its log
 * partition (the conversation ID is the key, so one conversation is one partition). The
 * router that consumes the partition turns that order into message IDs: each new message gets
 * a Snowflake ID from the router's generator, forced above the conversation's previous
 * message ID (its "floor"). The ID is fixed by a durable first-writer-wins claim on
 * (sender, client_msg_id), which also records the previous ID and the log position that won.
 *
 * Why not the gateway's clock. Gateways' clocks disagree; a sender who moves from a fast
 * gateway to a slow one would see its second message ordered before its first (invariant 4),
 * and two gateways' IDs would interleave differently from the log, so routers would deliver
 * out of ID order (invariant 3). The log append is the one point every send of a
 * conversation passes through in a single sequence, and the sender's next send is only
 * invoked after the previous one's `sent`, which follows its append: log order respects
 * sender FIFO whatever the clocks say.
 *
 * Why it survives rebalances and stale routers. Every router handles a partition's records
 * in offset order and without gaps within a consumer-group generation (records of an older
 * generation than one it has seen are dropped, never handled after a gap; see step.ts), and
 * a record's ID is whatever the first claim for it said. By induction
 * over a conversation's records: when a router claims record n anew, it has already learned
 * the winning ID of record n-1, either by handling n-1 itself in this run (its claim answered
 * the winner) or, if n-1 lies before the committed offset it started from, from the store,
 * where n-1 was persisted before that offset was committed. So the winning ID of n exceeds
 * the winning ID of n-1, whichever router won either claim. A stale router that keeps
 * working after its partition moved can only win claims the new owner will then adopt, and
 * its offset commits are fenced. A new claim is only ever made at a position no router has
 * passed, so the floor it uses is exactly the previous message's ID: that is what makes
 * `prev_message_id` exact, which gateways rely on to detect gaps.
 *
 * Why clock skew between routers is harmless. The floor forces each ID above the previous
 * one; a router whose clock is behind simply continues from the floor's millisecond, and one
 * whose clock is ahead moves the conversation's IDs ahead of wall time, nothing worse.
 *
 * Rules of this file: the floor cache is bounded (least recently used entries are dropped
 * and re-read from the store on next use, which the induction above allows), and an entry is
 * only good for the consumer-group generation that wrote it. A router that loses a partition
 * and later gets it back must not trust what it cached before: another router may have
 * ordered messages in between (the simulator found exactly that: two messages claimed with
 * the same previous ID, the later one numbered lower). A new generation re-reads the floor.
 */
import { snowflakeNext, type SnowflakeState } from "../ids/snowflake.js";

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
