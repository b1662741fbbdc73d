/**
 * LogKafka against a real broker: the Log contract suite, then what is Kafka's own (topic
 * set-up, the idempotent producer as the broker sees it, append order inside one send, the
 * consumer's bounded buffer).
 *
 * The broker: KAFKA_BROKERS, or Kafka on 127.0.0.1:9092 as `deploy/services.sh up kafka`
 * starts it. If nothing listens there, beforeAll runs that script once (it waits for the
 * broker itself, bounded); if that fails, every test that needs the broker fails with the
 * script's output and says how to start one. Nothing here skips. Each LogKafka gets its own topic
 * (`chat-log-test-<random>`), deleted again at cleanup.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsumedRecord, LogPosition, SendRecord } from "../../core/model.js";
import { partitionOf } from "../../core/ports/log.js";
import { describeLogContract } from "../contract/log.contract.js";
import { ensureService, portOpen } from "../contract/services.js";
import { LogKafka, PRODUCER_SETTINGS, type LogKafkaOptions } from "./index.js";
import type { LogKafkaConsumer } from "./log-kafka-consumer.js";

const DEFAULT_BROKER = "127.0.0.1:9092";
const BROKERS = (process.env.KAFKA_BROKERS ?? DEFAULT_BROKER)
  .split(",")
  .map((broker) => broker.trim())
  .filter((broker) => broker.length > 0);
const HINT = "start it with `deploy/services.sh up kafka` (Kafka 4.1.2, KRaft, on 127.0.0.1:9092)";
const PARTITIONS = 4;
/** Kafka rebalances take a heartbeat or two (1 s each here); a loaded 2-core box needs more. */
const SETTLE_MS = 30_000;
const TEST_TIMEOUT_MS = 60_000;
const SERVICES_UP_TIMEOUT_MS = 300_000;

const hostPort = (broker: string): { host: string; port: number } => {
  const at = broker.lastIndexOf(":");
  return { host: broker.slice(0, at), port: Number(broker.slice(at + 1)) };
};

/** Why no broker is there, if none is: every test that needs one fails with it (vitest would skip them if beforeAll threw). */
let broker_missing: Error | null = null;

const ensureBroker = async (): Promise<Error | null> => {
  const { host, port } = hostPort(BROKERS[0] ?? DEFAULT_BROKER);
  if (await portOpen(port, host)) return null;
  if (BROKERS.join(",") !== DEFAULT_BROKER) return new Error(`No Kafka broker answers at ${BROKERS.join(",")} (KAFKA_BROKERS); ${HINT}`);
  try {
    await ensureService("kafka", port, SERVICES_UP_TIMEOUT_MS);
    return null;
  } catch (error) {
    return new Error(`No Kafka broker answered on ${DEFAULT_BROKER}: ${(error as Error).message}\n${HINT}`);
  }
};

beforeAll(async () => {
  broker_missing = await ensureBroker();
}, SERVICES_UP_TIMEOUT_MS + 20_000);

let admin: Admin | null = null;
const testAdmin = async (): Promise<Admin> => {
  if (admin !== null) return admin;
  const created = new Kafka({ clientId: "log-kafka-test", brokers: BROKERS, logLevel: logLevel.NOTHING }).admin();
  await created.connect();
  admin = created;
  return created;
};

afterAll(async () => {
  await admin?.disconnect();
  admin = null;
});

const freshTopic = (): string => `chat-log-test-${randomUUID().slice(0, 12)}`;

const openLog = async (options: Partial<LogKafkaOptions> = {}): Promise<LogKafka> => {
  if (broker_missing !== null) throw broker_missing;
  try {
    return await LogKafka.open({ brokers: BROKERS, topic: freshTopic(), partition_count: PARTITIONS, ...options });
  } catch (error) {
    throw new Error(`LogKafka.open failed against ${BROKERS.join(",")}: ${(error as Error).message}; ${HINT}`, { cause: error });
  }
};

/** Closes the log and deletes its topic (best effort: a leftover topic harms nobody). */
const dispose = async (log: LogKafka): Promise<void> => {
  await log.close();
  await (await testAdmin()).deleteTopics({ topics: [log.topic], timeout: 10_000 }).catch(() => undefined);
};

describeLogContract(
  `LogKafka, ${PARTITIONS} partitions`,
  async () => {
    const log = await openLog();
    return { log, settle_ms: SETTLE_MS, cleanup: () => dispose(log) };
  },
  { test_timeout_ms: TEST_TIMEOUT_MS },
);

describeLogContract(
  "LogKafka, 1 partition",
  async () => {
    const log = await openLog({ partition_count: 1 });
    return { log, settle_ms: SETTLE_MS, cleanup: () => dispose(log) };
  },
  { test_timeout_ms: TEST_TIMEOUT_MS, single_partition: true },
);

const record = (key: string, n: number): SendRecord => ({
  kind: "send",
  conversation_id: key,
  sender_id: "u1",
  sender_device_id: "d1",
  origin: { gateway_id: "gw1", connection_id: "c1" },
  target: { kind: "direct", to: "u2" },
  content: `m${n}`,
  type: "text",
  client_msg_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  accepted_at_ms: 0,
});

/** Polls until `done(seen)` holds; fails after SETTLE_MS (no sleeps: every wait is a poll). */
const pollUntil = async (consumer: LogKafkaConsumer, max_records: number, done: (seen: ConsumedRecord[]) => boolean, what: string): Promise<ConsumedRecord[]> => {
  const seen: ConsumedRecord[] = [];
  const deadline_ms = Date.now() + SETTLE_MS;
  while (!done(seen)) {
    if (Date.now() > deadline_ms) throw new Error(`timed out after ${SETTLE_MS} ms waiting for ${what} (saw ${seen.length} records)`);
    const batch = await consumer.poll(max_records, 200);
    expect(batch.length).toBeLessThanOrEqual(max_records);
    seen.push(...batch);
  }
  return seen;
};

const at = (position: LogPosition): string => `${position.partition}:${position.offset}`;

describe("LogKafka", () => {
  it(
    "places keys with core's partitionOf and keeps append order within a key, also for appends sent together",
    async () => {
      const log = await openLog();
      try {
        for (const key of ["a", "b", "d.u1.u2", "g.x", "g.y"]) {
          expect((await log.append(key, record(key, 0))).partition).toBe(partitionOf(key, PARTITIONS));
        }
        const key = `g.order-${randomUUID()}`;
        const others = `g.other-${randomUUID()}`;
        // Issued in one tick: they leave together in one send, interleaved with another key,
        // so offsets come from one response's base offsets.
        const together = await Promise.all(
          Array.from({ length: 60 }, (_, n) => log.append(n % 3 === 2 ? others : key, record(n % 3 === 2 ? others : key, n))),
        );
        const one_by_one: LogPosition[] = [];
        for (let n = 60; n < 70; n++) one_by_one.push(await log.append(key, record(key, n)));
        const ours = [...together.filter((_, n) => n % 3 !== 2), ...one_by_one];
        for (const position of ours) expect(position.partition).toBe(partitionOf(key, PARTITIONS));
        for (let i = 1; i < ours.length; i++) expect((ours[i] as LogPosition).offset).toBeGreaterThan((ours[i - 1] as LogPosition).offset);

        // Each position names the record appended there, and a consumer reads the key in append order.
        const expected = new Map<string, number>();
        together.forEach((position, n) => expected.set(at(position), n));
        one_by_one.forEach((position, i) => expected.set(at(position), 60 + i));
        const consumer = await log.consumer(`group-${randomUUID()}`, "reader");
        const seen = await pollUntil(consumer, 50, (got) => got.filter((r) => expected.has(at(r))).length === expected.size, "every appended record");
        for (const r of seen.filter((x) => expected.has(at(x)))) {
          expect((r.record as SendRecord).content).toBe(`m${expected.get(at(r))}`);
        }
        const read_order = seen.filter((r) => r.key === key).map((r) => (r.record as SendRecord).content);
        expect(read_order).toEqual([...Array.from({ length: 60 }, (_, n) => n).filter((n) => n % 3 !== 2), ...Array.from({ length: 10 }, (_, i) => 60 + i)].map((n) => `m${n}`));
      } finally {
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "sends the appends of one event-loop turn as one produce request, and an append that finds the producer busy in the next",
    async () => {
      const log = await openLog();
      try {
        await log.append("warm", record("warm", 0));
        // Past the turn that settled the warm-up send: the producer is idle now.
        await new Promise((resolve) => setImmediate(resolve));
        const before = log.stats.produce_requests;
        // Five keys on several partitions, issued in one turn: one request (before, the first
        // went alone and the other four followed in a second).
        const keys = ["a", "b", "c", "d", "e"];
        const positions = await Promise.all(keys.map((key, n) => log.append(key, record(key, n))));
        expect(log.stats.produce_requests - before).toBe(1);
        keys.forEach((key, n) => expect(positions[n]?.partition).toBe(partitionOf(key, PARTITIONS)));
        // One append, then two more issued while its request is in flight: two requests.
        const first = log.append("a", record("a", 10));
        await new Promise((resolve) => setImmediate(resolve));
        const later = [log.append("b", record("b", 11)), log.append("c", record("c", 12))];
        await Promise.all([first, ...later]);
        expect(log.stats.produce_requests - before).toBe(3);
      } finally {
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "writes through an idempotent producer: the broker stamps a producer id and sequence numbers",
    async () => {
      expect(PRODUCER_SETTINGS).toEqual({ idempotent: true, acks: -1, max_in_flight_requests: 1 });
      const log = await openLog({ partition_count: 1 });
      const raw = new Kafka({ clientId: "log-kafka-test-raw", brokers: BROKERS, logLevel: logLevel.NOTHING }).consumer({
        groupId: `raw-${randomUUID()}`,
        maxWaitTimeInMs: 200,
      });
      try {
        for (let n = 0; n < 3; n++) await log.append("g.idempotent", record("g.idempotent", n));
        await Promise.all(Array.from({ length: 5 }, (_, n) => log.append("g.idempotent", record("g.idempotent", 3 + n))));
        // kafkajs hands each message its record batch's header, untyped, as `batchContext`.
        type BatchContext = { producerId: string; producerEpoch: number; firstSequence: number; firstOffset: string };
        const contexts: BatchContext[] = [];
        let all_read: () => void = () => undefined;
        const read = new Promise<void>((resolve) => (all_read = resolve));
        await raw.connect();
        await raw.subscribe({ topics: [log.topic], fromBeginning: true });
        await raw.run({
          eachMessage: async ({ message }) => {
            contexts.push((message as unknown as { batchContext: BatchContext }).batchContext);
            if (contexts.length >= 8) all_read();
          },
        });
        let timer: NodeJS.Timeout | undefined;
        const timed_out = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`read ${contexts.length} of 8 records back within ${SETTLE_MS} ms`)), SETTLE_MS);
        });
        await Promise.race([read, timed_out]).finally(() => clearTimeout(timer));
        const producer_ids = new Set(contexts.map((c) => c.producerId));
        expect(producer_ids.size).toBe(1);
        expect(Number([...producer_ids][0])).toBeGreaterThanOrEqual(0);
        for (const c of contexts) expect(c.producerEpoch).toBeGreaterThanOrEqual(0);
        // One sequence number per record, from 0, in offset order (-1 would mean no idempotence).
        const batches = [...new Map(contexts.map((c) => [c.firstOffset, c])).values()].sort((a, b) => Number(a.firstOffset) - Number(b.firstOffset));
        expect(batches.map((c) => c.firstSequence)).toEqual(batches.map((c) => Number(c.firstOffset) - Number(batches[0]?.firstOffset)));
        expect(batches[0]?.firstSequence).toBe(0);
      } finally {
        await raw.disconnect();
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "creates its topic idempotently and refuses an existing one with another partition count",
    async () => {
      const log = await openLog();
      try {
        const again = await LogKafka.open({ brokers: BROKERS, topic: log.topic, partition_count: PARTITIONS });
        expect((await again.append("k", record("k", 0))).partition).toBe(partitionOf("k", PARTITIONS));
        await again.close();
        await expect(LogKafka.open({ brokers: BROKERS, topic: log.topic, partition_count: 3 })).rejects.toMatchObject({ code: "LOG_KAFKA_TOPIC_MISMATCH" });
      } finally {
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it("rejects open with LOG_KAFKA_UNREACHABLE, within its retry bound, when no broker listens", async () => {
    const started = Date.now();
    await expect(LogKafka.open({ brokers: ["127.0.0.1:1"], topic: freshTopic(), partition_count: 1, retries: 1, connection_timeout_ms: 500 })).rejects.toMatchObject({
      code: "LOG_KAFKA_UNREACHABLE",
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it(
    "bounds a consumer's buffer, pausing and resuming partitions, and loses or repeats nothing",
    async () => {
      const buffered_records_max = 4;
      const log = await openLog({ buffered_records_max });
      try {
        const appended: LogPosition[] = [];
        for (const key of ["g.busy-a", "g.busy-b", "g.busy-c"]) {
          appended.push(...(await Promise.all(Array.from({ length: 25 }, (_, n) => log.append(key, record(key, n))))));
        }
        const wanted = new Set(appended.map(at));
        const consumer = await log.consumer(`group-${randomUUID()}`, "slow");
        // Asking for far more than the bound: a poll can only hand out what the buffer holds.
        const seen = await pollUntil(consumer, 100, (got) => got.filter((r) => wanted.has(at(r))).length >= wanted.size, "every record through a 4-record buffer");
        const ours = seen.filter((r) => wanted.has(at(r)));
        expect(new Set(ours.map(at)).size).toBe(ours.length);
        for (const partition of new Set(ours.map((r) => r.partition))) {
          const offsets = seen.filter((r) => r.partition === partition).map((r) => r.offset);
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
        }
        const polls_max = await consumer.poll(100, 0);
        expect(polls_max.length).toBeLessThanOrEqual(buffered_records_max);
      } finally {
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "on close, ends a waiting poll, fences commits and rejects appends and new consumers",
    async () => {
      const log = await openLog({ partition_count: 1 });
      try {
        const position = await log.append("g.close", record("g.close", 0));
        const consumer = await log.consumer(`group-${randomUUID()}`, "closing");
        const seen = await pollUntil(consumer, 10, (got) => got.some((r) => at(r) === at(position)), "the record");
        const generation = seen[0]?.generation ?? 0;
        const waiting = expect(consumer.poll(10, 20_000)).rejects.toMatchObject({ code: "LOG_KAFKA_CLOSED" });
        const closed_at = Date.now();
        await consumer.close();
        await waiting;
        expect(Date.now() - closed_at).toBeLessThan(10_000);
        expect(consumer.assignment()).toEqual([]);
        expect(await consumer.commit([{ partition: 0, offset: position.offset + 1 }], generation)).toBe("fenced");
        await log.close();
        await expect(log.append("g.close", record("g.close", 1))).rejects.toMatchObject({ code: "LOG_KAFKA_CLOSED" });
        await expect(log.consumer("g", "late")).rejects.toMatchObject({ code: "LOG_KAFKA_CLOSED" });
      } finally {
        await dispose(log);
      }
    },
    TEST_TIMEOUT_MS,
  );
});
