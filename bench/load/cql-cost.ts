/**
 * What one CQL request costs the Cassandra process, by kind: N plain inserts, N lightweight
 * transactions (INSERT ... IF NOT EXISTS), N single-row reads, and N inserts sent as unlogged
 * batches of B, each with C in flight, in a scratch keyspace; Cassandra's CPU
 * (/proc/PID/stat) per statement for each. `npx tsx bench/load/cql-cost.ts` (N=3000 B=16 C=32).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client, types } from "cassandra-driver";
import { cpuMs, pidTree, root } from "./harness.js";

const N = Number(process.env.N ?? 3000);
const B = Number(process.env.B ?? 16);
const C = Number(process.env.C ?? 32);
const KS = "chat_cql_cost";

async function bounded(count: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < count) await work(next++);
  }));
}

async function main(): Promise<void> {
  const pid = Number(readFileSync(join(root, ".services/cassandra/cassandra.pid"), "utf8").trim());
  const client = new Client({ contactPoints: ["127.0.0.1:9042"], localDataCenter: "datacenter1" });
  await client.connect();
  await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${KS} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await client.execute(`CREATE TABLE IF NOT EXISTS ${KS}.t (k text PRIMARY KEY, v text)`);
  const opts = { prepare: true, consistency: types.consistencies.localQuorum } as const;
  const run = async (name: string, statements: number, work: () => Promise<void>): Promise<void> => {
    const before = cpuMs(pidTree(pid));
    const t0 = performance.now();
    await work();
    const ms = performance.now() - t0;
    const cpu = cpuMs(pidTree(pid)) - before;
    console.log(JSON.stringify({ kind: name, statements, wall_ms: Math.round(ms), cassandra_cpu_us_per_statement: Math.round((cpu * 1000) / statements) }));
  };
  const tag = randomUUID().slice(0, 8);
  const value = "x".repeat(200);
  for (let round = 0; round < 2; round++) {
    await run("insert", N, () => bounded(N, (i) => client.execute(`INSERT INTO ${KS}.t (k, v) VALUES (?, ?)`, [`p${tag}${round}${i}`, value], opts)));
    await run("lwt", N, () =>
      bounded(N, (i) => client.execute(`INSERT INTO ${KS}.t (k, v) VALUES (?, ?) IF NOT EXISTS`, [`l${tag}${round}${i}`, value], { ...opts, serialConsistency: types.consistencies.serial })),
    );
    await run("read", N, () => bounded(N, (i) => client.execute(`SELECT v FROM ${KS}.t WHERE k = ?`, [`p${tag}${round}${i}`], opts)));
    await run(`batch_of_${B}`, N, () =>
      bounded(Math.ceil(N / B), (i) =>
        client.batch(
          Array.from({ length: B }, (_, j) => ({ query: `INSERT INTO ${KS}.t (k, v) VALUES (?, ?)`, params: [`b${tag}${round}${i}-${j}`, value] })),
          { ...opts, logged: false },
        ),
      ),
    );
  }
  await client.execute(`DROP KEYSPACE ${KS}`);
  await client.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
