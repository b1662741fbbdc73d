/**
 * What the Cassandra / ScyllaDB adapters share: consistency levels by name, the keyspace
 * name check (a keyspace is spliced into CQL text, so only plain identifiers pass), the
 * decoders for driver values, bounded parallelism, and the open/closed bookkeeping of a store.
 *
 * Rules:
 * - Only CQL that ScyllaDB also speaks: no SAI or SASI indexes, no Cassandra-only functions.
 * - Every statement is executed prepared (`prepare: true`): the driver prepares each CQL text
 *   once per connection pool and then sends only its ID and the bound values.
 * - Every statement of these adapters is idempotent (see each store's header), so every call
 *   is marked `isIdempotent`, which lets the driver retry or speculate on it.
 * - Values read back were written by these adapters only, so a wrong type is a bug: the
 *   decoders assert rather than return errors.
 */
import { types, type Client } from "cassandra-driver";
import { assert } from "../../core/result.js";

/** Consistency levels for ordinary reads and writes, by their CQL names. */
export type CassandraConsistency = "ONE" | "LOCAL_ONE" | "QUORUM" | "LOCAL_QUORUM" | "EACH_QUORUM" | "ALL";
/** Consistency levels for the Paxos phase of a lightweight transaction. */
export type CassandraSerialConsistency = "SERIAL" | "LOCAL_SERIAL";

export const CONSISTENCY_DEFAULT: CassandraConsistency = "LOCAL_QUORUM";
export const SERIAL_CONSISTENCY_DEFAULT: CassandraSerialConsistency = "SERIAL";

const CONSISTENCY_CODES: Readonly<Record<CassandraConsistency | CassandraSerialConsistency, number>> = {
  ONE: types.consistencies.one,
  LOCAL_ONE: types.consistencies.localOne,
  QUORUM: types.consistencies.quorum,
  LOCAL_QUORUM: types.consistencies.localQuorum,
  EACH_QUORUM: types.consistencies.eachQuorum,
  ALL: types.consistencies.all,
  SERIAL: types.consistencies.serial,
  LOCAL_SERIAL: types.consistencies.localSerial,
};

/** The driver's code for a consistency level named in configuration. */
export function consistencyCode(name: CassandraConsistency | CassandraSerialConsistency): number {
  const code = CONSISTENCY_CODES[name];
  assert(code !== undefined, `cassandra: unknown consistency level '${String(name)}'`);
  return code;
}

/** Keyspace names: what Cassandra and ScyllaDB both accept unquoted, lower case, at most 48 characters. */
const KEYSPACE_PATTERN = /^[a-z][a-z0-9_]{0,47}$/;

/** Throws unless `keyspace` is a plain lower-case identifier (it is spliced into CQL text). */
export function checkKeyspace(owner: string, keyspace: string): string {
  if (!KEYSPACE_PATTERN.test(keyspace)) {
    throw new Error(`${owner}: keyspace must match ${String(KEYSPACE_PATTERN)} (lower case letters, digits, underscores; at most 48), got '${keyspace}'`);
  }
  return keyspace;
}

/** Options for a single-statement call at `consistency`. */
export function callOptions(consistency: number, extra: { fetchSize?: number; serialConsistency?: number } = {}) {
  return { prepare: true, isIdempotent: true, consistency, ...extra } as const;
}

/** A bigint, int or counter column as a JavaScript number (Long or bigint from the driver). */
export function numberOf(value: unknown, what: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") {
    assert(value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER), `cassandra: ${what} ${value} is not a safe integer`);
    return Number(value);
  }
  assert(value instanceof types.Long, `cassandra: ${what} is not a number (got ${typeof value})`);
  const long = value as types.Long;
  assert(
    long.lessThanOrEqual(types.Long.fromNumber(Number.MAX_SAFE_INTEGER)) && long.greaterThanOrEqual(types.Long.fromNumber(Number.MIN_SAFE_INTEGER)),
    `cassandra: ${what} ${long.toString()} is not a safe integer`,
  );
  return long.toNumber();
}

export function textOf(value: unknown, what: string): string {
  assert(typeof value === "string", `cassandra: ${what} is not text (got ${value === null ? "null" : typeof value})`);
  return value;
}

export function textOrNullOf(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  return textOf(value, what);
}

/** A value to bind: null as `unset`, so that an absent optional field writes no tombstone cell. */
export function bindable<T>(value: T | null): T | typeof types.unset {
  return value === null ? types.unset : value;
}

/** Throws unless `limit` is a non-negative integer (a caller's bug, not input from a peer). */
export function assertLimit(owner: string, method: string, limit: number): void {
  assert(Number.isInteger(limit) && limit >= 0, `${owner}.${method}: limit must be a non-negative integer, got ${limit}`);
}

/**
 * Runs `work` on every item with at most `concurrency` calls in flight; rejects with the first
 * failure once every started call has settled (so nothing runs on after the caller was told).
 */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  assert(Number.isInteger(concurrency) && concurrency >= 1, `forEachBounded: concurrency must be a positive integer, got ${concurrency}`);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failure !== null) throw (failure as { error: unknown }).error;
}

/**
 * The open/closed state of a store over a client it does not own: calls after close() reject,
 * and close() resolves once the calls already running have settled.
 */
export class StoreLifecycle {
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly owner: string) {}

  /** Runs `call` unless the store is closed, and tracks it until it settles. */
  async run<T>(method: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`${this.owner}.${method}: the store is closed`);
    const promise = call();
    this.running.add(promise);
    try {
      return await promise;
    } finally {
      this.running.delete(promise);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }
}

export type { Client };
