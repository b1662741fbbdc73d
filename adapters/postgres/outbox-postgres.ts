/**
 * A region's outbox (core/region/relay.ts) in PostgreSQL: one FIFO lane per (source region,
 * destination region), table `region_outbox`, numbered by `region_outbox_lanes` (migration 3
 * says why the lane row and not a sequence).
 *
 * - `append` writes every operation of one call to one lane in one statement: the lane row's
 *   `last_seq` moves by the count, and the rows take the numbers in between, in call order. The
 *   row lock lasts until that statement commits, so appends to one lane commit in seq order.
 * - `head` reads the lowest numbers still there; `trim` deletes through a number (a repeated
 *   or late trim deletes nothing more).
 * - An operation is stored as JSON; `head` validates it with zod (bytes from a store are an edge).
 */
import type { Pool } from "pg";
import { z } from "zod";
import type { OutboxItem, RelayOp } from "../../core/region/relay.js";
import { relayOpSchema } from "../../core/region/relay-codec.js";

export const OUTBOX_SQL = {
  ensureLane: "INSERT INTO region_outbox_lanes (src, dest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
  append: `WITH lane AS (
      UPDATE region_outbox_lanes SET last_seq = last_seq + $3 WHERE src = $1 AND dest = $2 RETURNING last_seq
    )
    INSERT INTO region_outbox (src, dest, seq, op)
      SELECT $1, $2, lane.last_seq - $3 + o.n, o.op FROM lane, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS o (op, n)`,
  head: "SELECT seq, op FROM region_outbox WHERE src = $1 AND dest = $2 ORDER BY seq LIMIT $3",
  trim: "DELETE FROM region_outbox WHERE src = $1 AND dest = $2 AND seq <= $3",
  size: "SELECT count(*)::bigint AS n FROM region_outbox WHERE src = $1",
} as const;

export class OutboxPostgres {
  private readonly lanes_ready = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly src: string,
  ) {}

  async append(dest: string, ops: readonly RelayOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.ensureLane(dest);
    const result = await this.pool.query(OUTBOX_SQL.append, [this.src, dest, ops.length, JSON.stringify(ops)]);
    if (result.rowCount !== ops.length) throw new Error(`outbox ${this.src}->${dest}: wrote ${result.rowCount} of ${ops.length} operations (lane row missing?)`);
  }

  async head(dest: string, max: number): Promise<OutboxItem[]> {
    const { rows } = await this.pool.query<{ seq: string; op: unknown }>(OUTBOX_SQL.head, [this.src, dest, max]);
    return rows.map((row) => {
      const op = relayOpSchema.safeParse(row.op);
      if (!op.success) throw new Error(`outbox ${this.src}->${dest}: row ${row.seq} is not a relay operation: ${z.prettifyError(op.error)}`);
      return { seq: Number(row.seq), op: op.data };
    });
  }

  async trim(dest: string, through: number): Promise<void> {
    await this.pool.query(OUTBOX_SQL.trim, [this.src, dest, through]);
  }

  /** Operations not yet trimmed, over every lane of this region (a gauge). */
  async size(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(OUTBOX_SQL.size, [this.src]);
    return Number(rows[0]?.n ?? 0);
  }

  private async ensureLane(dest: string): Promise<void> {
    if (this.lanes_ready.has(dest)) return;
    await this.pool.query(OUTBOX_SQL.ensureLane, [this.src, dest]);
    this.lanes_ready.add(dest);
  }
}
