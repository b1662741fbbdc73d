/**
 * A run's history, as the clients saw it (Jepsen style), plus the final state of the stores.
 * The same shape comes from a simulated run, a chaos run against a real cluster and an
 * end-to-end test, so checkers never see simulator internals. Times are milliseconds on one
 * clock per history (virtual time in the simulator, wall time elsewhere).
 *
 * Rules: everything here is plain JSON-able data; a device is a (user_id, device_id) pair;
 * lists are in the order things happened on the device that recorded them.
 */

export type DeviceRef = { readonly user_id: string; readonly device_id: string };

/** One send: invoked by a device, then `ok` (a `sent` receipt), `fail` (a definite error) or `info` (unknown). */
export type SendOp = {
  readonly device: DeviceRef;
  readonly conversation_id: string;
  readonly client_msg_id: string;
  readonly content: string;
  readonly invoked_at: number;
  readonly outcome: "ok" | "fail" | "info";
  /** The message_id of the `sent` receipt (ok only). */
  readonly message_id: string | null;
  readonly completed_at: number | null;
};

/**
 * A message shown on a device. `via`: "new_message" for a frame from the server, "own" for
 * the device's own send shown when its `sent` arrived. `connection` numbers the device's
 * connections (1, 2, ...), so per-connection frame order can be checked.
 */
export type DisplayEvent = {
  readonly device: DeviceRef;
  readonly conversation_id: string;
  readonly message_id: string;
  readonly from: string;
  readonly client_msg_id: string;
  readonly content: string;
  readonly at: number;
  readonly connection: number;
  readonly via: "new_message" | "own";
};

/** A delivery_receipt a device saw for a message its user sent. */
export type ReceiptEvent = {
  readonly device: DeviceRef;
  readonly conversation_id: string;
  readonly message_id: string;
  /** The recipient the receipt is about (absent for `sent`). */
  readonly user_id: string | null;
  readonly status: "sent" | "delivered" | "read";
  readonly at: number;
};

/**
 * A `delivered` or `read` receipt frame as it arrived on a device's connection, before the
 * client's own guard (which drops one that goes back). `connection` numbers the device's
 * connections as in DisplayEvent.
 */
export type WireReceipt = ReceiptEvent & { readonly connection: number };

/** A push notification the push service accepted for a user (about one message). */
export type PushEvent = {
  readonly user_id: string;
  readonly conversation_id: string;
  readonly message_id: string;
  readonly from: string;
  readonly at: number;
};

/** An ack a device sent. */
export type AckEvent = {
  readonly device: DeviceRef;
  readonly conversation_id: string;
  readonly message_id: string;
  readonly status: "delivered" | "read";
  readonly at: number;
};

/** Anything else a device received that belongs to a conversation or a user (for leak checks). */
export type ReceivedEvent =
  | { readonly kind: "typing"; readonly device: DeviceRef; readonly conversation_id: string; readonly from: string; readonly at: number }
  | {
      readonly kind: "presence";
      readonly device: DeviceRef;
      readonly user_id: string;
      readonly status: "online" | "offline";
      readonly at: number;
    };

/** Who was in a conversation. Membership is fixed for a run unless `joined_at` / `left_at` say otherwise. */
export type Membership = {
  readonly conversation_id: string;
  readonly user_id: string;
  readonly joined_at: number | null;
  readonly left_at: number | null;
};

/**
 * One WebSocket connection of a device, as its client saw it: `opened_at` when the upgrade
 * was accepted, `closed_at` when the client saw it end (null if still open at the end).
 * `connection` is the same number as in DisplayEvent.
 */
export type ConnectionSpan = {
  readonly device: DeviceRef;
  readonly connection: number;
  readonly opened_at: number;
  readonly closed_at: number | null;
};

/**
 * A frame of a device refused for its rate (`RATE_LIMITED`), with whether every frame that
 * connection had sent until then, acks aside, kept within the contract's allowance (API.md:
 * a burst of 500 and 50 frames/s) by the client's own clock. `connection` as in DisplayEvent.
 */
export type LimitRefusal = {
  readonly device: DeviceRef;
  readonly connection: number;
  readonly at: number;
  readonly within_contract: boolean;
};

/**
 * A refusal for rate a device's client received on one connection: an `error` with code
 * `RATE_LIMITED`, or the close (1008) that ends a run of them. `frames_sent` counts the
 * frames other than acks the client had put on that connection by then, `frames_burst` is
 * the burst every connection starts with. Acks never count against the limit (API.md), so
 * a connection that has sent no more than the burst cannot honestly be refused.
 */
export type RateRefusal = {
  readonly device: DeviceRef;
  readonly connection: number;
  readonly at: number;
  readonly frames_sent: number;
  readonly frames_burst: number;
  readonly closed: boolean;
};

/** Presence subscriptions a device held at the end of the run. */
export type PresenceWatch = { readonly device: DeviceRef; readonly user_id: string };

export type FinalState = {
  /** Whether the run reached quiescence before its deadline, and when. */
  readonly quiescent: boolean;
  readonly quiescent_at: number | null;
  /** When the heal phase began: faults stopped, every client reconnecting. */
  readonly healed_at: number;
  /** Each conversation's history as the history endpoint / message store returns it, oldest first. */
  readonly history: Readonly<Record<string, readonly string[]>>;
  /** Pending entries left at the end. */
  readonly pending: readonly { readonly device: DeviceRef; readonly message_id: string }[];
  /** Devices connected at the end. */
  readonly connected: readonly DeviceRef[];
  /** Unread counts per user and conversation as the inbox reports them (optional). */
  readonly unread?: readonly { readonly user_id: string; readonly conversation_id: string; readonly count: number }[];
  readonly presence_watches?: readonly PresenceWatch[];
  /**
   * Without quiescence, what was still pending or in flight, and where, one line each, as the
   * world that ran it reports it (optional). Invariant 10 names them in its violation.
   */
  readonly stuck?: readonly string[];
};

export type History = {
  readonly devices: readonly DeviceRef[];
  readonly memberships: readonly Membership[];
  readonly sends: readonly SendOp[];
  readonly displays: readonly DisplayEvent[];
  readonly receipts: readonly ReceiptEvent[];
  readonly acks: readonly AckEvent[];
  readonly received: readonly ReceivedEvent[];
  readonly final: FinalState;
  /**
   * Every connection of every device (optional). With it, invariant 8 also judges stale
   * `online` updates during the run, invariant 10 starts a device's delivery deadline no
   * earlier than its last connection opened, and invariant 7 blames a pending entry its
   * device acked only if that connection stayed open delivery_bound_ms after the ack.
   * Without it the first is skipped and the others use coarser rules.
   */
  readonly connections?: readonly ConnectionSpan[];
  /** Frames refused for their rate (optional; invariant 11 judges them when present). */
  readonly limit_refusals?: readonly LimitRefusal[];
  /**
   * Receipt frames as they arrived, per connection (optional): with them invariant 6 also
   * judges each layer below the client, whose guard would otherwise mask a server that lets a
   * status go back on one connection.
   */
  readonly wire_receipts?: readonly WireReceipt[];
  /** Push notifications sent, to whom (optional; invariant 9 judges them). */
  readonly pushes?: readonly PushEvent[];
  /** Refusals for rate the clients received (optional; invariant 10 judges them). */
  readonly rate_refusals?: readonly RateRefusal[];
  /** Liveness bound: after healing, an ok send reaches every online member within this long. */
  readonly delivery_bound_ms: number;
  /** Presence TTL + heartbeat interval + allowed clock skew (invariant 8). */
  readonly presence_bound_ms: number;
};

export type Violation = {
  /** The invariant's number in INVARIANTS.md and its short name. */
  readonly invariant: number;
  readonly name: string;
  /** A sentence naming the messages and devices involved. */
  readonly message: string;
};

export function deviceKey(d: DeviceRef): string {
  return `${d.user_id}/${d.device_id}`;
}
