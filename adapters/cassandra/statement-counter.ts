/**
 * StatementCounter: counts what a cassandra-driver Client sends, by kind (read, write,
 * lightweight transaction, batch) and table, with request and response bytes and summed
 * latency. It exists to answer "how many Cassandra round trips does one message cost"
 * from a running node's /metrics (nodes/metrics.ts exposes it); it changes nothing.
 */
import { tracker } from "cassandra-driver";

export type StatementKind = "read" | "write" | "lwt" | "batch";

export type StatementTally = { count: number; errors: number; request_bytes: number; response_bytes: number; latency_ms: number };

/** Kind and table of a CQL statement, from its text (our adapters' prepared statements only). */
export function classify(query: string): { kind: StatementKind; table: string } {
  const q = query.trimStart();
  const table = /\b(?:FROM|INTO|UPDATE)\s+(?:[a-z0-9_]+\.)?([a-z0-9_]+)/i.exec(q)?.[1] ?? "unknown";
  if (/\bIF\s+(NOT\s+EXISTS|EXISTS)\b/i.test(q)) return { kind: "lwt", table };
  if (/^SELECT\b/i.test(q)) return { kind: "read", table };
  return { kind: "write", table };
}

/** The driver checks `instanceof RequestTracker`; its typings call that class an interface. */
const RequestTrackerBase = (tracker as unknown as { RequestTracker: new () => object }).RequestTracker;

export class StatementCounter extends RequestTrackerBase implements tracker.RequestTracker {
  /** `${kind}:${table}` -> tally; batches count once as `batch:<first table>`. */
  readonly tallies = new Map<string, StatementTally>();

  onSuccess(_host: unknown, query: string | { query: string }[], _p: unknown, _o: unknown, request_bytes: number, response_bytes: number, latency: number[]): void {
    this.add(query, request_bytes, response_bytes, latency, false);
  }

  onError(_host: unknown, query: string | { query: string }[], _p: unknown, _o: unknown, request_bytes: number, _err: Error, latency: number[]): void {
    this.add(query, request_bytes, 0, latency, true);
  }

  shutdown(): void {}

  private add(query: string | { query: string }[], request_bytes: number, response_bytes: number, latency: number[], failed: boolean): void {
    const key =
      typeof query === "string" ? `${classify(query).kind}:${classify(query).table}` : `batch:${classify(query[0]?.query ?? "").table}`;
    let t = this.tallies.get(key);
    if (t === undefined) this.tallies.set(key, (t = { count: 0, errors: 0, request_bytes: 0, response_bytes: 0, latency_ms: 0 }));
    t.count++;
    if (failed) t.errors++;
    t.request_bytes += request_bytes;
    t.response_bytes += response_bytes;
    t.latency_ms += (latency[0] ?? 0) * 1000 + (latency[1] ?? 0) / 1e6;
  }
}
