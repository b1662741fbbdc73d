/**
 * The errors LogKafka rejects with, each with a stable code (the ws way) and a message that
 * says what happened and what to do. kafkajs's own error, when there is one, is the `cause`.
 *
 * - LOG_KAFKA_CLOSED: the log or the consumer was closed; a caller bug or a shutdown race.
 * - LOG_KAFKA_UNREACHABLE: no broker answered within the retry bounds (at open or at join).
 * - LOG_KAFKA_TOPIC_MISMATCH: the topic exists with another partition count; keys would land
 *   on other partitions than before and per-conversation order would break, so it is refused.
 * - LOG_KAFKA_OVERLOADED: more appends are waiting than `pending_appends_max`.
 * - LOG_KAFKA_APPEND_FAILED: the broker did not acknowledge; the append may still have applied.
 * - LOG_KAFKA_COMMIT_UNKNOWN: the commit failed without a fencing answer, or the group
 *   rebalanced while it was in flight (kafkajs may have retried it under the new generation):
 *   it may have applied. Commit again; it will be fenced or succeed.
 * - LOG_KAFKA_CONSUMER_CRASHED: kafkajs gave the consumer up for good (a non-retriable error).
 * - LOG_KAFKA_JOIN_TIMEOUT: the consumer got no assignment within `join_timeout_ms`.
 */
export type LogKafkaErrorCode =
  | "LOG_KAFKA_CLOSED"
  | "LOG_KAFKA_UNREACHABLE"
  | "LOG_KAFKA_TOPIC_MISMATCH"
  | "LOG_KAFKA_OVERLOADED"
  | "LOG_KAFKA_APPEND_FAILED"
  | "LOG_KAFKA_COMMIT_UNKNOWN"
  | "LOG_KAFKA_CONSUMER_CRASHED"
  | "LOG_KAFKA_JOIN_TIMEOUT";

export class LogKafkaError extends Error {
  readonly code: LogKafkaErrorCode;

  constructor(code: LogKafkaErrorCode, message: string, cause?: unknown) {
    super(`${code}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = "LogKafkaError";
    this.code = code;
  }
}

/** kafkajs wraps protocol errors (KafkaJSNonRetriableError, ...NumberOfRetriesExceeded); this finds the broker's error type. */
export function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  let current: unknown = error;
  // Bounded: kafkajs nests a handful of causes at most; a cycle must not hang us.
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === "string") types.push(type);
    current = (current as { cause?: unknown }).cause;
  }
  return types;
}

/** Broker answers to OffsetCommit that mean "this member's generation is over". */
const FENCING_ERROR_TYPES = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"]);

export function isFencingError(error: unknown): boolean {
  return kafkaErrorTypes(error).some((type) => FENCING_ERROR_TYPES.has(type));
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
