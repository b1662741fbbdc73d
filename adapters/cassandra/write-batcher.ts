/**
 * CqlWriteBatcher: plain writes that callers issue in the same turn of the event loop leave
 * as one unlogged batch instead of one request each.
 *
 * Why. The router writes about seven plain rows per message (message, pending entries, two
 * inbox max-registers, the ack's pending removal and receipt flag) and each was its own CQL
 * request: on a two-core box Cassandra's per-request work (native transport, dispatch, the
 * response) and the driver's per-request work in the router were most of the cost of a
 * message (docs/BENCHMARKS.md). Under load many messages are in flight at once, so their
 * writes meet in the same turn and share a request.
 *
 * Rules of this file:
 * - Only idempotent, unconditional writes come here (never a lightweight transaction, never
 *   a read): a batch that fails or times out may have applied in part, and every caller is
 *   then told it failed and repeats its own writes, which is what a single write that timed
 *   out already meant.
 * - A caller's group of statements (a single-partition insert + range delete) always travels
 *   in one batch, never split: Cassandra applies a batch's statements on one partition as one
 *   mutation, so the group stays atomic and isolated as it was when it was a batch of its own.
 * - Unlogged: no batch log, no atomicity across partitions is promised or needed (each
 *   caller's writes are idempotent and repeated on failure until all of them succeed).
 * - Bounded: at most `statements_max` statements per batch (a larger single group goes alone)
 *   and `pending_max` statements waiting; past that, writes are refused at once (the caller
 *   retries after its backoff) rather than queued without bound.
 * - A flush is scheduled with setImmediate: the writes of one turn go together, and no write
 *   waits for a timer.
 */
import type { Client } from "cassandra-driver";

export type CqlStatement = { readonly query: string; readonly params: readonly unknown[] };

export type CqlWriteBatcherOptions = {
  /** Consistency code of every batch (the stores' write consistency). */
  readonly consistency: number;
  /** Statements per batch; 1 sends every group on its own (batching off). */
  readonly statements_max: number;
  /** Statements waiting to be sent, all groups together. */
  readonly pending_max: number;
};

export const WRITE_BATCH_STATEMENTS_MAX_DEFAULT = 16;
export const WRITE_BATCH_PENDING_MAX_DEFAULT = 20_000;

type Waiting = { readonly statements: readonly CqlStatement[]; readonly resolve: () => void; readonly reject: (error: unknown) => void };

export class CqlWriteBatcher {
  private queue: Waiting[] = [];
  private queued_statements = 0;
  private scheduled = false;

  constructor(
    private readonly client: Client,
    private readonly options: CqlWriteBatcherOptions,
  ) {
    if (!Number.isInteger(options.statements_max) || options.statements_max < 1) {
      throw new Error(`CqlWriteBatcher: statements_max must be a positive integer, got ${options.statements_max}`);
    }
    if (!Number.isInteger(options.pending_max) || options.pending_max < options.statements_max) {
      throw new Error(`CqlWriteBatcher: pending_max must be an integer of at least statements_max, got ${options.pending_max}`);
    }
  }

  /** Writes `statements` (one group, never split); resolves when the batch carrying them is acknowledged. */
  write(statements: readonly CqlStatement[]): Promise<void> {
    if (statements.length === 0) return Promise.resolve();
    if (this.queued_statements + statements.length > this.options.pending_max) {
      return Promise.reject(new Error(`CqlWriteBatcher: ${this.queued_statements} statements already wait to be written (pending_max ${this.options.pending_max})`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ statements, resolve, reject });
      this.queued_statements += statements.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    this.queued_statements = 0;
    let batch: Waiting[] = [];
    let size = 0;
    for (const waiting of queue) {
      if (batch.length > 0 && size + waiting.statements.length > this.options.statements_max) {
        this.send(batch);
        batch = [];
        size = 0;
      }
      batch.push(waiting);
      size += waiting.statements.length;
    }
    if (batch.length > 0) this.send(batch);
  }

  private send(batch: readonly Waiting[]): void {
    const only = batch.length === 1 && batch[0]!.statements.length === 1 ? batch[0]!.statements[0]! : null;
    const options = { prepare: true, isIdempotent: true, consistency: this.options.consistency } as const;
    const sent =
      only !== null
        ? this.client.execute(only.query, only.params as unknown[], options)
        : this.client.batch(
            batch.flatMap((w) => w.statements.map((s) => ({ query: s.query, params: s.params as unknown[] }))),
            { ...options, logged: false },
          );
    sent.then(
      () => {
        for (const w of batch) w.resolve();
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
      },
    );
  }
}
