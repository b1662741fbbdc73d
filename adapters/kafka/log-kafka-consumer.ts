/**
 * LogKafkaConsumer: one member of a Kafka consumer group, seen through our poll-based port
 * (core/ports/log.ts). kafkajs pushes batches into `eachBatch`; we keep them in a bounded
 * RecordBuffer that `poll` drains.
 *
 * Rules:
 * - Offsets are committed only by `commit` (`autoCommit: false`), and the fetch position moves
 *   only as records enter the buffer (`eachBatchAutoResolve: false`, `resolveOffset` per
 *   record taken). When the buffer is full the partition is paused and the rest of the batch
 *   is left unresolved, so kafkajs fetches it again after `resume`; partitions resume once
 *   `poll` has drained the buffer to half. The buffer therefore never exceeds its bound.
 * - Generations are ours: kafkajs's GROUP_JOIN event carries the assignment but not Kafka's
 *   generationId (kafkajs 2.2.4 keeps that private), so `generation` counts this member's
 *   completed joins, starting at 1. It only ever grows, which is all the port asks: a record
 *   carries the generation it was buffered under, and a commit must name the current one.
 * - Every join (GROUP_JOIN), every "group is rebalancing" (REBALANCING) and every crash
 *   (CRASH) empties the buffer: kafkajs restarts each partition it still owns at the group's
 *   committed offset, so buffered records would otherwise come twice, and records of lost
 *   partitions belong to another member now. Between REBALANCING (or a crash) and the next
 *   GROUP_JOIN this member owns nothing.
 * - `commit` answers "fenced", committing nothing, unless this member is joined, names its
 *   current generation and owns every partition named. Kafka's broker checks only generation
 *   and member id, not ownership, so the ownership check is ours. A broker answer that means
 *   a new generation (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) is
 *   "fenced" too. If a join happened while the commit was in flight, kafkajs may have retried
 *   it under the new generation, so the outcome is unknown and commit rejects.
 * - A record kafkajs hands us for a partition we do not own cannot happen (kafkajs stops its
 *   fetchers before it rejoins); if it ever did, the partition is paused and nothing buffered.
 * - A message that does not decode (codec.ts) is logged and skipped: it is not ours.
 */
import { performance } from "node:perf_hooks";
import type { Consumer, EachBatchPayload, Kafka, RetryOptions } from "kafkajs";
import type { CommitOutcome, LogConsumer } from "../../core/ports/log.js";
import type { ConsumedRecord, LogPosition } from "../../core/model.js";
import { assert } from "../../core/result.js";
import { decodeMessage } from "./codec.js";
import { describeError, isFencingError, LogKafkaError } from "./errors.js";
import type { KafkaLogSink } from "./kafka-logging.js";
import { RecordBuffer } from "./record-buffer.js";

export type LogKafkaConsumerSettings = {
  readonly topic: string;
  readonly partition_count: number;
  readonly buffered_records_max: number;
  readonly join_timeout_ms: number;
  readonly session_timeout_ms: number;
  readonly heartbeat_interval_ms: number;
  readonly rebalance_timeout_ms: number;
  readonly fetch_wait_ms_max: number;
  readonly fetch_bytes_min: number;
  /** Counters shared with the LogKafka that opened this consumer. */
  readonly stats?: { commits: number; consumed_records: number; fetched_batches: number };
  /** The whole retry policy: kafkajs does not merge a consumer's with the client's. */
  readonly retry: RetryOptions;
  readonly logger: KafkaLogSink | undefined;
};

const sortedNumbers = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

export class LogKafkaConsumer implements LogConsumer {
  readonly member_id: string;
  readonly group: string;
  private readonly consumer: Consumer;
  private readonly settings: LogKafkaConsumerSettings;
  private readonly buffer: RecordBuffer;
  private readonly on_closed: (consumer: LogKafkaConsumer) => void;
  private generation = 0;
  private owned: number[] = [];
  private joined = false;
  /** Set once the consumer cannot be used any more: why poll rejects. */
  private ended: LogKafkaError | null = null;
  private closing: Promise<void> | null = null;
  /** Per owned partition, the offset after the last record buffered in this generation. */
  private readonly next_offsets = new Map<number, number>();
  /** Partitions we paused because the buffer was full. */
  private readonly paused = new Set<number>();
  private readonly listeners_removers: (() => void)[] = [];

  /** Joins `group`; resolves once this member has its first assignment. */
  static async open(
    kafka: Kafka,
    settings: LogKafkaConsumerSettings,
    group: string,
    member_id: string,
    on_closed: (consumer: LogKafkaConsumer) => void,
  ): Promise<LogKafkaConsumer> {
    const consumer = kafka.consumer({
      groupId: group,
      sessionTimeout: settings.session_timeout_ms,
      heartbeatInterval: settings.heartbeat_interval_ms,
      rebalanceTimeout: settings.rebalance_timeout_ms,
      maxWaitTimeInMs: settings.fetch_wait_ms_max,
      minBytes: settings.fetch_bytes_min,
      allowAutoTopicCreation: false,
      retry: { ...settings.retry },
    });
    const self = new LogKafkaConsumer(consumer, settings, group, member_id, on_closed);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [settings.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => self.onBatch(payload),
      });
      await self.awaitFirstJoin();
    } catch (error) {
      await self.close().catch(() => undefined);
      if (error instanceof LogKafkaError) throw error;
      throw new LogKafkaError(
        "LOG_KAFKA_UNREACHABLE",
        `consumer '${member_id}' could not join group '${group}' on topic '${settings.topic}': ${describeError(error)}`,
        error,
      );
    }
    return self;
  }

  private constructor(consumer: Consumer, settings: LogKafkaConsumerSettings, group: string, member_id: string, on_closed: (consumer: LogKafkaConsumer) => void) {
    this.consumer = consumer;
    this.settings = settings;
    this.group = group;
    this.member_id = member_id;
    this.on_closed = on_closed;
    this.buffer = new RecordBuffer(settings.buffered_records_max);
    const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events;
    this.listeners_removers.push(
      consumer.on(GROUP_JOIN, (event) => this.onJoin(event.payload.memberAssignment[settings.topic] ?? [])),
      consumer.on(REBALANCING, () => this.onLeaveAssignment("rebalancing")),
      consumer.on(CRASH, (event) => {
        this.onLeaveAssignment("crash");
        if (!event.payload.restart && this.ended === null) {
          this.ended = new LogKafkaError("LOG_KAFKA_CONSUMER_CRASHED", `consumer '${member_id}' of group '${group}' stopped: ${describeError(event.payload.error)}`, event.payload.error);
          this.buffer.wake();
        }
      }),
    );
  }

  assignment(): readonly number[] {
    return this.owned;
  }

  async poll(max_records: number, wait_ms: number): Promise<ConsumedRecord[]> {
    assert(Number.isSafeInteger(max_records) && max_records > 0, `LogKafkaConsumer.poll: max_records must be a positive integer, got ${max_records}`);
    assert(Number.isFinite(wait_ms) && wait_ms >= 0, `LogKafkaConsumer.poll: wait_ms must be finite and >= 0, got ${wait_ms}`);
    const deadline_ms = performance.now() + wait_ms;
    for (;;) {
      if (this.ended !== null) throw this.ended;
      if (this.buffer.count > 0) break;
      const remaining_ms = deadline_ms - performance.now();
      if (remaining_ms <= 0) return [];
      await this.buffer.wait(remaining_ms);
    }
    const records = this.buffer.take(max_records);
    if (this.settings.stats !== undefined) this.settings.stats.consumed_records += records.length;
    this.resumeIfDrained();
    return records;
  }

  async commit(offsets: readonly LogPosition[], generation: number): Promise<CommitOutcome> {
    for (const { partition, offset } of offsets) {
      assert(
        Number.isSafeInteger(partition) && partition >= 0 && partition < this.settings.partition_count,
        `LogKafkaConsumer.commit: partition ${partition} is outside [0, ${this.settings.partition_count})`,
      );
      assert(Number.isSafeInteger(offset) && offset >= 0, `LogKafkaConsumer.commit: offset ${offset} of partition ${partition} is not a non-negative integer`);
    }
    if (this.ended !== null || !this.joined || generation !== this.generation) return "fenced";
    if (!offsets.every(({ partition }) => this.owned.includes(partition))) return "fenced";
    if (offsets.length === 0) return "ok";
    const generation_at_send = this.generation;
    if (this.settings.stats !== undefined) this.settings.stats.commits++;
    try {
      await this.consumer.commitOffsets(offsets.map(({ partition, offset }) => ({ topic: this.settings.topic, partition, offset: String(offset) })));
    } catch (error) {
      if (isFencingError(error)) return "fenced";
      throw new LogKafkaError("LOG_KAFKA_COMMIT_UNKNOWN", `commit of group '${this.group}' failed and may have applied: ${describeError(error)}`, error);
    }
    if (this.ended !== null || !this.joined || this.generation !== generation_at_send) {
      throw new LogKafkaError(
        "LOG_KAFKA_COMMIT_UNKNOWN",
        `group '${this.group}' rebalanced (or the consumer stopped) while a commit was in flight; it may have applied under the new generation`,
      );
    }
    return "ok";
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.ended ??= new LogKafkaError("LOG_KAFKA_CLOSED", `consumer '${this.member_id}' of group '${this.group}' is closed`);
    this.onLeaveAssignment("close");
    this.closing = (async () => {
      try {
        // Leaves the group (LeaveGroup), so the others rebalance at once rather than after the session timeout.
        await this.consumer.disconnect();
      } catch (error) {
        this.settings.logger?.warn({ component: "log-kafka", group: this.group, member_id: this.member_id, error: describeError(error) }, "consumer disconnect failed");
      } finally {
        for (const remove of this.listeners_removers) remove();
        this.on_closed(this);
      }
    })();
    return this.closing;
  }

  private async awaitFirstJoin(): Promise<void> {
    const deadline_ms = performance.now() + this.settings.join_timeout_ms;
    while (!this.joined) {
      if (this.ended !== null) throw this.ended;
      const remaining_ms = deadline_ms - performance.now();
      if (remaining_ms <= 0) {
        throw new LogKafkaError(
          "LOG_KAFKA_JOIN_TIMEOUT",
          `consumer '${this.member_id}' got no assignment in group '${this.group}' within ${this.settings.join_timeout_ms} ms`,
        );
      }
      await this.buffer.wait(remaining_ms);
    }
  }

  private onJoin(partitions: readonly number[]): void {
    if (this.ended !== null) return;
    this.generation++;
    this.owned = sortedNumbers(partitions);
    this.joined = true;
    this.buffer.clear();
    this.next_offsets.clear();
    // kafkajs keeps pauses across a rejoin; our buffer is empty now, so fetch everything owned.
    this.paused.clear();
    this.consumer.resume([{ topic: this.settings.topic }]);
    this.settings.logger?.info(
      { component: "log-kafka", group: this.group, member_id: this.member_id, generation: this.generation, partitions: this.owned },
      "consumer joined",
    );
    this.buffer.wake();
  }

  private onLeaveAssignment(why: "rebalancing" | "crash" | "close"): void {
    if (this.joined) {
      this.settings.logger?.info({ component: "log-kafka", group: this.group, member_id: this.member_id, generation: this.generation, why }, "consumer lost its assignment");
    }
    this.joined = false;
    this.owned = [];
    this.buffer.clear();
    this.next_offsets.clear();
    this.buffer.wake();
  }

  private onBatch({ batch, resolveOffset, pause }: EachBatchPayload): void {
    if (this.ended !== null) return;
    const partition = batch.partition;
    if (this.settings.stats !== undefined) this.settings.stats.fetched_batches++;
    if (!this.joined || !this.owned.includes(partition)) {
      this.settings.logger?.error(
        { component: "log-kafka", group: this.group, member_id: this.member_id, partition, owned: this.owned },
        "kafkajs handed over a batch of a partition this member does not own; pausing it",
      );
      this.paused.add(partition);
      pause();
      return;
    }
    for (const message of batch.messages) {
      const offset = Number(message.offset);
      assert(Number.isSafeInteger(offset) && offset >= 0, `LogKafkaConsumer: offset '${message.offset}' is not a safe integer`);
      const next = this.next_offsets.get(partition);
      if (next !== undefined && offset < next) continue;
      if (this.buffer.room() === 0) {
        this.paused.add(partition);
        pause();
        return;
      }
      const decoded = decodeMessage(message.key, message.value);
      if (decoded.ok) {
        this.buffer.push({ partition, offset, key: decoded.value.key, record: decoded.value.record, generation: this.generation });
      } else {
        this.settings.logger?.error(
          { component: "log-kafka", topic: this.settings.topic, partition, offset, code: decoded.error.code },
          `skipping a message that is not a LogRecord: ${decoded.error.message}`,
        );
      }
      resolveOffset(message.offset);
      this.next_offsets.set(partition, offset + 1);
    }
  }

  private resumeIfDrained(): void {
    if (this.paused.size === 0 || this.buffer.count > this.buffer.records_max / 2 || this.ended !== null) return;
    const partitions = [...this.paused];
    this.paused.clear();
    this.consumer.resume([{ topic: this.settings.topic, partitions }]);
  }
}
