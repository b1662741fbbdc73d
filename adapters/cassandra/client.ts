/**
 * Opening a cassandra-driver Client for the Cassandra / ScyllaDB adapters, from plain
 * configuration or from the environment that `deploy/services.sh env` prints
 * (CASSANDRA_CONTACT_POINTS, CASSANDRA_LOCAL_DC).
 *
 * Rules: the Client is not bound to a keyspace (the adapters name theirs in every
 * statement, so one Client can serve several keyspaces, as the tests do); whoever opens it
 * shuts it down.
 */
import { Client } from "cassandra-driver";
import type { StatementCounter } from "./statement-counter.js";

export type CassandraClientConfig = {
  /** `host:port` pairs; the port defaults to 9042. */
  readonly contact_points: readonly string[];
  /** The data center the driver routes to first (`datacenter1` on a fresh single node). */
  readonly local_datacenter: string;
  /** How long one request may wait for a node's answer. Default 12 s, the driver's. */
  readonly request_timeout_ms?: number;
  /** Counts every statement sent (metrics); none by default. */
  readonly counter?: StatementCounter;
};

/** A Client for `config`, not yet connected (the first call, or `connect()`, connects it). */
export function cassandraClient(config: CassandraClientConfig): Client {
  if (config.contact_points.length === 0) throw new Error("cassandraClient: contact_points is empty");
  if (config.local_datacenter.length === 0) throw new Error("cassandraClient: local_datacenter is empty");
  return new Client({
    contactPoints: [...config.contact_points],
    localDataCenter: config.local_datacenter,
    socketOptions: { readTimeout: config.request_timeout_ms ?? 12_000 },
    ...(config.counter === undefined ? {} : { requestTracker: config.counter }),
  });
}

/** The configuration in CASSANDRA_CONTACT_POINTS (comma-separated) and CASSANDRA_LOCAL_DC. */
export function cassandraConfigFromEnv(env: Readonly<Record<string, string | undefined>>): CassandraClientConfig {
  const points = (env["CASSANDRA_CONTACT_POINTS"] ?? "127.0.0.1:9042")
    .split(",")
    .map((point) => point.trim())
    .filter((point) => point.length > 0);
  return { contact_points: points, local_datacenter: env["CASSANDRA_LOCAL_DC"] ?? "datacenter1" };
}
