/**
 * LogKafka: the production Log (core/ports/log.ts) on one topic of Apache Kafka or Redpanda,
 * through kafkajs 2.2.4. Consumers live in log-kafka-consumer.ts.
 *
 * Rules:
 * - The topic is created at open through the admin API, idempotently, with the configured
 *   partition count. An existing topic with another count is refused: `partitionOf` would
 *   send keys to other partitions than before and break per-conversation order.
 * - The key picks the partition with core's `partitionOf`, and every message names its
 *   partition explicitly (kafkajs's murmur2 partitioner never runs), so Kafka, SQLite and the
 *   simulator place a conversation alike. The key also travels as the message key (for
 *   compaction and tooling), the record as JSON (codec.ts).
 * - Appends go through one idempotent producer (`idempotent: true`, `acks: -1`,
 *   `maxInFlightRequests: 1`). One send is in flight at a time; appends that arrive meanwhile
 *   wait and go out together as the next send (at most `append_batch_records_max`, at most
 *   `pending_appends_max` waiting). An append to an idle producer does not go out at once
 *   either: the send starts at the end of the current event-loop turn (setImmediate), so every
 *   append issued in that turn (a gateway reads many frames in one turn under load) shares
 *   one produce request instead of the first going alone. No timer: nothing waits for a
 *   linger. (At 100 msg/s a produce request per record was kafkajs's encoding and the
 *   broker's per-request work, 8% of a gateway's CPU profile: docs/BENCHMARKS.md.)
 *   Kafka writes one record batch per partition per request,
 *   so the i-th message of partition p in a send gets the response's base offset + i, which
 *   keeps append order within a key. An append resolves only on the broker's acks=all answer.
 * - Retries are bounded (an append must answer), and kafkajs rolls a partition's sequence
 *   number back when a send fails, although the broker may have written it. The next send
 *   would then reuse those sequence numbers with other records, and the broker would drop
 *   them as duplicates while answering success. So after any failed send the producer is
 *   thrown away, and the next send starts a new one with a new producer id.
 * - Offsets are JavaScript numbers; an offset beyond 2^53 - 1 trips an assertion.
 */
import { Kafka, type Admin, type ICustomPartitioner, type Producer, type RecordMetadata, type RetryOptions } from "kafkajs";
import type { Log } from "../../core/ports/log.js";
import { partitionOf } from "../../core/ports/log.js";
import type { LogPosition, LogRecord } from "../../core/model.js";
import { assert } from "../../core/result.js";
import { encodeRecord } from "./codec.js";
import { describeError, LogKafkaError } from "./errors.js";
import { kafkaLogging, type KafkaLogLevel, type KafkaLogSink } from "./kafka-logging.js";
import { LogKafkaConsumer, type LogKafkaConsumerSettings } from "./log-kafka-consumer.js";

export type LogKafkaOptions = {
  /** host:port of one or more brokers (KAFKA_BROKERS). */
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Partitions of the topic: used to create it, and checked against an existing one. */
  readonly partition_count: number;
  /** For a topic this log creates; default 1 (one test broker). Production wants 3. */
  readonly replication_factor?: number;
  /** Prefix of kafkajs client ids (a consumer's is `<client_id>-<member_id>`); default "chat-log". */
  readonly client_id?: string;
  /** Consumer group session: a member silent this long is dropped. The broker's minimum is 6000 by default. */
  readonly session_timeout_ms?: number;
  readonly heartbeat_interval_ms?: number;
  /** How long a rebalance waits for every member to rejoin. */
  readonly rebalance_timeout_ms?: number;
  /** The broker's long-poll wait per fetch; also how often an idle consumer heartbeats. */
  readonly fetch_wait_ms_max?: number;
  /**
   * The broker answers a fetch once it holds this many bytes (or fetch_wait_ms_max passed).
   * 1 (the default) answers at the first record: lowest latency, most fetches under load.
   */
  readonly fetch_bytes_min?: number;
  /** Records a consumer holds between kafkajs's fetches and our polls. */
  readonly buffered_records_max?: number;
  /** How long `consumer()` waits for its first assignment. */
  readonly join_timeout_ms?: number;
  readonly append_batch_records_max?: number;
  readonly pending_appends_max?: number;
  readonly connection_timeout_ms?: number;
  readonly request_timeout_ms?: number;
  /** kafkajs retries per operation (exponential from 300 ms, at most 5 s apart). */
  readonly retries?: number;
  /** Where kafkajs logs go; without one kafkajs logs nothing. */
  readonly logger?: KafkaLogSink;
  readonly log_level?: KafkaLogLevel;
};

const DEFAULTS = {
  replication_factor: 1,
  client_id: "chat-log",
  session_timeout_ms: 6_000,
  heartbeat_interval_ms: 1_000,
  rebalance_timeout_ms: 6_000,
  fetch_wait_ms_max: 500,
  fetch_bytes_min: 1,
  buffered_records_max: 1_000,
  join_timeout_ms: 30_000,
  append_batch_records_max: 500,
  pending_appends_max: 10_000,
  connection_timeout_ms: 3_000,
  request_timeout_ms: 30_000,
  retries: 5,
  log_level: "warn",
} as const;

/** What the producer is opened with; the idempotence test checks the broker saw it. */
export const PRODUCER_SETTINGS = { idempotent: true, acks: -1, max_in_flight_requests: 1 } as const;

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

type PendingAppend = {
  readonly key: string;
  readonly value: Buffer;
  readonly partition: number;
  readonly resolve: (position: LogPosition) => void;
  readonly reject: (error: Error) => void;
};

/** Every message names its partition (partitionOf); a message without one is our bug. */
const explicitPartitioner: ICustomPartitioner = () => ({ message }) => {
  assert(typeof message.partition === "number", "LogKafka: a message reached the partitioner without an explicit partition");
  return message.partition;
};

/** What this log has sent and consumed, for metrics (counts only; nothing reads them back). */
export type LogKafkaStats = {
  produce_requests: number;
  produced_records: number;
  /** Key + value bytes of produced records (Kafka's own batch framing not included). */
  produced_bytes: number;
  commits: number;
  consumed_records: number;
  /** Partition batches kafkajs handed to consumers (about one per partition with data per fetch). */
  fetched_batches: number;
};

type Resolved = Required<Omit<LogKafkaOptions, "logger">> & { readonly logger: KafkaLogSink | undefined };

/** Attempts at creating or checking the topic while the broker's metadata catches up. */
const TOPIC_SETUP_ATTEMPTS_MAX = 20;

export class LogKafka implements Log {
  readonly partition_count: number;
  readonly topic: string;
  private readonly options: Resolved;
  private readonly retry: RetryOptions;
  private readonly kafka: Kafka;
  private producer: Producer | null;
  private readonly queue: PendingAppend[] = [];
  private sending: Promise<void> | null = null;
  /** A send is due at the end of this turn (setImmediate), gathering the turn's appends. */
  private scheduled = false;
  private readonly consumers = new Set<LogKafkaConsumer>();
  private closing: Promise<void> | null = null;
  readonly stats: LogKafkaStats = { produce_requests: 0, produced_records: 0, produced_bytes: 0, commits: 0, consumed_records: 0, fetched_batches: 0 };

  /** Connects, creates the topic if it is missing (checking its partition count if not), and opens the producer. */
  static async open(options: LogKafkaOptions): Promise<LogKafka> {
    const resolved = resolveOptions(options);
    const retry = retryPolicy(resolved.retries);
    const kafka = createKafka(resolved, resolved.client_id, retry);
    const admin = kafka.admin({ retry });
    try {
      await admin.connect();
      // A topic just created may not be in every metadata answer yet ("This server does not
      // host this topic-partition"): seen on a cold, busy broker. Retry that one, bounded.
      for (let attempt = 0; ; attempt++) {
        try {
          await ensureTopic(admin, resolved);
          break;
        } catch (error) {
          const text = describeError(error);
          if (attempt >= TOPIC_SETUP_ATTEMPTS_MAX || !/does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION|LEADER_NOT_AVAILABLE/.test(text)) throw error;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } catch (error) {
      if (error instanceof LogKafkaError) throw error;
      throw new LogKafkaError("LOG_KAFKA_UNREACHABLE", `could not reach Kafka at ${resolved.brokers.join(",")} to set up topic '${resolved.topic}': ${describeError(error)}`, error);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const log = new LogKafka(resolved, retry, kafka);
    try {
      await log.readyProducer();
    } catch (error) {
      await log.close();
      throw new LogKafkaError("LOG_KAFKA_UNREACHABLE", `could not connect the producer to ${resolved.brokers.join(",")}: ${describeError(error)}`, error);
    }
    return log;
  }

  private constructor(options: Resolved, retry: RetryOptions, kafka: Kafka) {
    this.options = options;
    this.retry = retry;
    this.kafka = kafka;
    this.topic = options.topic;
    this.partition_count = options.partition_count;
    this.producer = null;
  }

  append(key: string, record: LogRecord): Promise<LogPosition> {
    if (this.closing !== null) return Promise.reject(new LogKafkaError("LOG_KAFKA_CLOSED", `LogKafka.append: the log on topic '${this.topic}' is closed`));
    if (this.queue.length >= this.options.pending_appends_max) {
      return Promise.reject(new LogKafkaError("LOG_KAFKA_OVERLOADED", `LogKafka.append: ${this.queue.length} appends are already waiting (pending_appends_max)`));
    }
    const value = encodeRecord(record);
    const partition = partitionOf(key, this.partition_count);
    return new Promise<LogPosition>((resolve, reject) => {
      this.queue.push({ key, value, partition, resolve, reject });
      // Behind a send in flight it waits anyway (pump runs when that send ends); otherwise
      // the send starts at the end of this turn, with whatever else this turn appends.
      if (this.sending === null && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  async consumer(group: string, member_id: string): Promise<LogKafkaConsumer> {
    assert(group.length > 0, "LogKafka.consumer: group must not be empty");
    assert(member_id.length > 0, "LogKafka.consumer: member_id must not be empty");
    if (this.closing !== null) throw new LogKafkaError("LOG_KAFKA_CLOSED", `LogKafka.consumer: the log on topic '${this.topic}' is closed`);
    const kafka = createKafka(this.options, `${this.options.client_id}-${member_id}`, this.retry);
    const consumer = await LogKafkaConsumer.open(kafka, this.consumerSettings(), group, member_id, (closed) => this.consumers.delete(closed));
    if (this.closing !== null) {
      await consumer.close();
      throw new LogKafkaError("LOG_KAFKA_CLOSED", `LogKafka.consumer: the log on topic '${this.topic}' closed while '${member_id}' joined`);
    }
    this.consumers.add(consumer);
    return consumer;
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      const closed = new LogKafkaError("LOG_KAFKA_CLOSED", `LogKafka: the log on topic '${this.topic}' closed before this append was sent`);
      for (const waiting of this.queue.splice(0)) waiting.reject(closed);
      await this.sending;
      await Promise.all([...this.consumers].map((consumer) => consumer.close()));
      await this.discardProducer();
    })();
    return this.closing;
  }

  private consumerSettings(): LogKafkaConsumerSettings {
    const o = this.options;
    return {
      topic: o.topic,
      partition_count: o.partition_count,
      buffered_records_max: o.buffered_records_max,
      join_timeout_ms: o.join_timeout_ms,
      session_timeout_ms: o.session_timeout_ms,
      heartbeat_interval_ms: o.heartbeat_interval_ms,
      rebalance_timeout_ms: o.rebalance_timeout_ms,
      fetch_wait_ms_max: o.fetch_wait_ms_max,
      fetch_bytes_min: o.fetch_bytes_min,
      stats: this.stats,
      retry: this.retry,
      logger: o.logger,
    };
  }

  /** Starts the next send if none is in flight; appends that queue meanwhile go out together. */
  private pump(): void {
    if (this.sending !== null || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.append_batch_records_max);
    this.sending = this.send(batch).finally(() => {
      this.sending = null;
      this.pump();
    });
  }

  private async send(batch: readonly PendingAppend[]): Promise<void> {
    let results: RecordMetadata[];
    try {
      const producer = await this.readyProducer();
      this.stats.produce_requests++;
      this.stats.produced_records += batch.length;
      for (const a of batch) this.stats.produced_bytes += a.value.length + Buffer.byteLength(a.key);
      results = await producer.send({
        topic: this.topic,
        acks: PRODUCER_SETTINGS.acks,
        timeout: this.options.request_timeout_ms,
        messages: batch.map(({ key, value, partition }) => ({ key, value, partition })),
      });
    } catch (error) {
      const failed = new LogKafkaError("LOG_KAFKA_APPEND_FAILED", `the broker did not acknowledge ${batch.length} append(s) to '${this.topic}' (they may still have applied): ${describeError(error)}`, error);
      for (const waiting of batch) waiting.reject(failed);
      // A fresh producer id, so that no later record reuses the sequence numbers of these.
      await this.discardProducer();
      return;
    }
    resolvePositions(batch, results);
  }

  private async readyProducer(): Promise<Producer> {
    if (this.producer !== null) return this.producer;
    const producer = this.kafka.producer({
      idempotent: PRODUCER_SETTINGS.idempotent,
      maxInFlightRequests: PRODUCER_SETTINGS.max_in_flight_requests,
      allowAutoTopicCreation: false,
      createPartitioner: explicitPartitioner,
      retry: this.retry,
    });
    this.producer = producer;
    try {
      await producer.connect();
    } catch (error) {
      this.producer = null;
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    return producer;
  }

  private async discardProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect().catch((error: unknown) => {
      this.options.logger?.warn({ component: "log-kafka", topic: this.topic, error: describeError(error) }, "producer disconnect failed");
    });
  }
}

/** The i-th message of a partition in one send sits at that partition's base offset + i. */
function resolvePositions(batch: readonly PendingAppend[], results: readonly RecordMetadata[]): void {
  const base_of = new Map<number, number>();
  for (const result of results) {
    assert(result.errorCode === 0, `LogKafka: kafkajs resolved a send with error code ${result.errorCode} for partition ${result.partition}`);
    const base = Number(result.baseOffset);
    assert(Number.isSafeInteger(base) && base >= 0, `LogKafka: base offset '${result.baseOffset}' of partition ${result.partition} is not a safe integer`);
    base_of.set(result.partition, base);
  }
  const index_of = new Map<number, number>();
  for (const waiting of batch) {
    const base = base_of.get(waiting.partition);
    if (base === undefined) {
      waiting.reject(new LogKafkaError("LOG_KAFKA_APPEND_FAILED", `the broker's answer named no offset for partition ${waiting.partition} (the append may have applied)`));
      continue;
    }
    const index = index_of.get(waiting.partition) ?? 0;
    index_of.set(waiting.partition, index + 1);
    waiting.resolve({ partition: waiting.partition, offset: base + index });
  }
}

async function ensureTopic(admin: Admin, options: Resolved): Promise<void> {
  await admin.createTopics({
    topics: [{ topic: options.topic, numPartitions: options.partition_count, replicationFactor: options.replication_factor }],
    waitForLeaders: true,
    timeout: options.request_timeout_ms,
  });
  const metadata = await admin.fetchTopicMetadata({ topics: [options.topic] });
  const found = metadata.topics.find((t) => t.name === options.topic);
  const count = found?.partitions.length ?? 0;
  if (count !== options.partition_count) {
    throw new LogKafkaError(
      "LOG_KAFKA_TOPIC_MISMATCH",
      `topic '${options.topic}' has ${count} partitions, this log is configured for ${options.partition_count}; keys would move between partitions, so it is refused`,
    );
  }
}

function createKafka(options: Resolved, client_id: string, retry: RetryOptions): Kafka {
  return new Kafka({
    clientId: client_id,
    brokers: [...options.brokers],
    connectionTimeout: options.connection_timeout_ms,
    requestTimeout: options.request_timeout_ms,
    retry,
    ...kafkaLogging(options.logger, options.log_level),
  });
}

/**
 * Explicit in full: kafkajs's consumer does not merge its retry policy with the client's, and
 * kafkajs swaps in much shorter defaults when NODE_ENV is "test" (as under vitest).
 */
function retryPolicy(retries: number): RetryOptions {
  return { retries, initialRetryTime: 300, maxRetryTime: 5_000, factor: 0.2, multiplier: 2 };
}

function resolveOptions(options: LogKafkaOptions): Resolved {
  const resolved: Resolved = {
    brokers: options.brokers,
    topic: options.topic,
    partition_count: options.partition_count,
    replication_factor: options.replication_factor ?? DEFAULTS.replication_factor,
    client_id: options.client_id ?? DEFAULTS.client_id,
    session_timeout_ms: options.session_timeout_ms ?? DEFAULTS.session_timeout_ms,
    heartbeat_interval_ms: options.heartbeat_interval_ms ?? DEFAULTS.heartbeat_interval_ms,
    rebalance_timeout_ms: options.rebalance_timeout_ms ?? DEFAULTS.rebalance_timeout_ms,
    fetch_wait_ms_max: options.fetch_wait_ms_max ?? DEFAULTS.fetch_wait_ms_max,
    fetch_bytes_min: options.fetch_bytes_min ?? DEFAULTS.fetch_bytes_min,
    buffered_records_max: options.buffered_records_max ?? DEFAULTS.buffered_records_max,
    join_timeout_ms: options.join_timeout_ms ?? DEFAULTS.join_timeout_ms,
    append_batch_records_max: options.append_batch_records_max ?? DEFAULTS.append_batch_records_max,
    pending_appends_max: options.pending_appends_max ?? DEFAULTS.pending_appends_max,
    connection_timeout_ms: options.connection_timeout_ms ?? DEFAULTS.connection_timeout_ms,
    request_timeout_ms: options.request_timeout_ms ?? DEFAULTS.request_timeout_ms,
    retries: options.retries ?? DEFAULTS.retries,
    logger: options.logger,
    log_level: options.log_level ?? DEFAULTS.log_level,
  };
  assert(resolved.brokers.length > 0, "LogKafka: brokers must name at least one host:port");
  assert(TOPIC_NAME.test(resolved.topic), `LogKafka: topic '${resolved.topic}' is not a legal Kafka topic name`);
  const positive = [
    "partition_count",
    "replication_factor",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "rebalance_timeout_ms",
    "fetch_wait_ms_max",
    "fetch_bytes_min",
    "buffered_records_max",
    "join_timeout_ms",
    "append_batch_records_max",
    "pending_appends_max",
    "connection_timeout_ms",
    "request_timeout_ms",
    "retries",
  ] as const;
  for (const name of positive) {
    const value = resolved[name];
    assert(Number.isSafeInteger(value) && value > 0, `LogKafka: ${name} must be a positive integer, got ${value}`);
  }
  assert(resolved.heartbeat_interval_ms < resolved.session_timeout_ms, "LogKafka: heartbeat_interval_ms must be below session_timeout_ms");
  return resolved;
}
