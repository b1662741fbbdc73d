/**
 * The internal records that travel between cores and ports: what goes into the log, what
 * the stores keep, and what a router hands a gateway. None of these are on the wire to
 * clients (see protocol/ for those), but they are stable: the SQLite, Kafka and Cassandra
 * adapters serialise them, so a change here is a schema migration.
 */
import type { AckStatus, DeliveryReceiptData, MessageType, NewMessageData, ReceiptStatus } from "./protocol/frames.js";

/** Where a frame came from, so the router can answer the sending connection. */
export type Origin = { readonly gateway_id: string; readonly connection_id: string };

export type SendTarget = { readonly kind: "direct"; readonly to: string } | { readonly kind: "group"; readonly group_id: string };

/** A send accepted by a gateway and appended to the log, keyed by its conversation. */
export type SendRecord = {
  readonly kind: "send";
  readonly conversation_id: string;
  readonly sender_id: string;
  readonly sender_device_id: string;
  readonly origin: Origin;
  readonly target: SendTarget;
  readonly content: string;
  readonly type: MessageType;
  readonly client_msg_id: string;
  /** The gateway's clock when it accepted the send: informational, never used for order. */
  readonly accepted_at_ms: number;
};

/** A device's ack, appended to the log in its conversation's partition (after the message). */
export type AckRecord = {
  readonly kind: "ack";
  readonly conversation_id: string;
  readonly message_id: string;
  readonly user_id: string;
  readonly device_id: string;
  readonly status: AckStatus;
};

export type LogRecord = SendRecord | AckRecord;

export type LogPosition = { readonly partition: number; readonly offset: number };

/** A record as a consumer sees it: where it sits in the log and under which assignment. */
export type ConsumedRecord = LogPosition & {
  readonly key: string;
  readonly record: LogRecord;
  /** The consumer-group generation that handed this record out; commits from older ones are fenced. */
  readonly generation: number;
};

/** A message as the store keeps it. `sent_at_ms` is the router's clock when it ordered it. */
export type StoredMessage = {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly sender_id: string;
  readonly sender_device_id: string;
  readonly group_id: string | null;
  readonly content: string;
  readonly type: MessageType;
  readonly client_msg_id: string;
  readonly sent_at_ms: number;
  /**
   * The conversation's previous message when this one was ordered (null for the first).
   * Gateways use it to tell a contiguous live delivery from one that skipped a gap.
   */
  readonly prev_message_id: string | null;
};

/**
 * The durable dedup record as it was before dedup became per conversation (SendClaim below):
 * (sender, client_msg_id) -> the message it became, first writer wins by a Paxos round
 * (MessageStore.claim, no longer on the hot path); `position` is the log record that won, so a router can tell a redelivery of that
 * record (run the whole pipeline again) from a client's retry (answer `sent` only).
 */
export type DedupClaim = {
  readonly sender_id: string;
  readonly client_msg_id: string;
  readonly message_id: string;
  readonly conversation_id: string;
  /** The conversation's previous message ID at ordering time (see StoredMessage). */
  readonly prev_message_id: string | null;
  readonly position: LogPosition;
};

/**
 * The durable dedup record of a send, scoped to its conversation: (sender, conversation,
 * client_msg_id) -> the message it became, or the group's refusal of it (`members` without the
 * sender; then `message_id` is the chain ID the record would have had, and no message has
 * it) (docs/API.md, "client_msg_id"). Written with a plain,
 * idempotent write by the router that orders the conversation: one conversation is one log
 * partition, so every send carrying the key passes through one partition in order, and the
 * first of them writes the row before any later one looks it up (core/router/ordering.ts).
 * `digest` is a hash of the send's type and content: a later send with the same key and
 * another digest is a reuse (CLIENT_MSG_ID_REUSED), not a retry.
 */
export type SendClaim = DedupClaim & {
  readonly digest: string;
  /**
   * A group send's audience: the group's members when the send was ordered, in the
   * directory's order. A redelivery of the record fans out to exactly these users, whoever
   * joined or left since (INVARIANTS.md 1 and 9 count membership as of ordering; see
   * core/router/step.ts, rule 5). A list without the sender records a refusal
   * (NOT_A_MEMBER): every record of the same send gets that answer. Null for a direct
   * message (its two users are in its conversation ID, and never change) and for a record
   * written before the stores kept the audience (the group as it is now stands in).
   */
  readonly members: readonly string[] | null;
};

/**
 * Where a log partition's ID chain stood just before `offset`: the Snowflake state (machine =
 * partition) after the partition's last send record below `offset`. Written before the
 * router commits `offset`, read by whichever router starts the partition there, so every
 * router that numbers a record gives it the same ID (core/router/ordering.ts).
 */
export type IdCheckpoint = {
  readonly partition: number;
  readonly offset: number;
  readonly last_ms: number;
  readonly sequence: number;
};

/** One message waiting for one device. */
export type PendingEntry = {
  readonly user_id: string;
  readonly device_id: string;
  readonly message: StoredMessage;
};

export type SessionEntry = {
  readonly user_id: string;
  readonly device_id: string;
  readonly gateway_id: string;
  readonly connection_id: string;
};

export type InboxEntry = {
  readonly user_id: string;
  readonly conversation_id: string;
  readonly kind: "direct" | "group";
  readonly other_user_id: string | null;
  readonly group_id: string | null;
  readonly last_message_id: string;
  readonly last_message_at_ms: number;
  readonly last_message_preview: string;
};

/** What a router hands a gateway for one connection. */
export type Delivery =
  | {
      readonly kind: "message";
      readonly connection_id: string;
      readonly user_id: string;
      readonly device_id: string;
      readonly message: NewMessageData;
      /** The conversation's previous message ID when this one was ordered (gap detection). */
      readonly prev_message_id: string | null;
    }
  | {
      readonly kind: "receipt";
      readonly connection_id: string;
      readonly receipt: DeliveryReceiptData;
      /** For `sent`: the conversation's previous message ID, as for a message. */
      readonly prev_message_id: string | null;
    }
  | {
      readonly kind: "error";
      readonly connection_id: string;
      readonly code: string;
      readonly message: string;
      readonly client_msg_id: string;
      readonly retryable: boolean;
    }
  | {
      readonly kind: "typing";
      readonly connection_id: string;
      readonly from: string;
      readonly conversation_id: string;
      readonly group_id: string | null;
    }
  | {
      readonly kind: "presence";
      readonly connection_id: string;
      readonly user_id: string;
      readonly status: "online" | "offline";
      readonly last_seen_ms: number | null;
    };

export type PushNotification = {
  readonly user_id: string;
  readonly conversation_id: string;
  readonly message_id: string;
  readonly from: string;
  readonly group_id: string | null;
  /** Only as much of the content as the configuration allows; null for none. */
  readonly preview: string | null;
};

export type PushTarget = { readonly platform: "apns" | "fcm" | "webpush" | "webhook"; readonly token: string };

export type ReceiptRow = { readonly user_id: string; readonly status: ReceiptStatus };

export function toNewMessage(message: StoredMessage, iso: (ms: number) => string): NewMessageData {
  const data: NewMessageData = {
    message_id: message.message_id,
    conversation_id: message.conversation_id,
    from: message.sender_id,
    content: message.content,
    type: message.type,
    sent_at: iso(message.sent_at_ms),
    client_msg_id: message.client_msg_id,
  };
  return message.group_id === null ? data : { ...data, group_id: message.group_id };
}

/**
 * RFC 3339 UTC with milliseconds, computed arithmetically (Howard Hinnant's civil-from-days)
 * so that core code never touches the Date object, which the purity test forbids.
 */
export function isoFromMs(ms: number): string {
  const dayMs = 86_400_000;
  const days = Math.floor(ms / dayMs);
  let rest = ms - days * dayMs;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${p(year, 4)}-${p(month)}-${p(day)}T${p(hours)}:${p(minutes)}:${p(seconds)}.${p(millis, 3)}Z`;
}

/** The inverse of isoFromMs for RFC 3339 UTC strings; NaN when it does not parse. */
export function msFromIso(iso: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z$/.exec(iso);
  if (m === null) return Number.NaN;
  const [year, month, day, hours, minutes, seconds] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = Number((m[7] ?? "0").padEnd(3, "0"));
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146_097 + doe - 719_468;
  return ((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000 + millis;
}
