/**
 * Every bound the protocol enforces, in one place, with its unit in its name.
 *
 * Rules: a limit that a client can hit is documented in docs/API.md; a limit that only
 * protects a node (queue depths, batch sizes) is documented here. Cores and hosts read these
 * values through a `Limits` object so that tests and the simulator can shrink them.
 */
export const LIMITS = {
  /** Largest WebSocket text frame a node accepts; larger frames close the socket (1009). */
  frameBytesMax: 64 * 1024,
  /** Largest REST body a node accepts (413 above it). */
  bodyBytesMax: 256 * 1024,
  /** Characters of `content` in a text message. */
  contentCharsMax: 4096,
  /** Members of a group, counting its creator. */
  groupMembersMax: 500,
  /** Characters of a group's name. */
  groupNameCharsMax: 128,
  /** User IDs in one subscribe_presence or unsubscribe_presence frame. */
  presenceSubscribeBatchMax: 100,
  /** Presence subscriptions one connection may hold at once. */
  presenceSubscriptionsPerConnectionMax: 1000,
  /** Messages in one history page. */
  historyPageMessagesMax: 100,
  historyPageMessagesDefault: 50,
  /** Conversations in one inbox page. */
  inboxPageConversationsMax: 100,
  inboxPageConversationsDefault: 50,
  /** User IDs in one add-members call. */
  addMembersBatchMax: 500,
  usernameCharsMin: 3,
  usernameCharsMax: 32,
  passwordCharsMin: 8,
  passwordCharsMax: 256,
  /** Opaque IDs (users, groups, media, conversations) are at most this long. */
  idCharsMax: 80,
  /**
   * Devices (sign-ins) per user that receive messages: routers write pending entries for a
   * user's newest this many devices only, and gateways refuse the older ones at connect (401:
   * sign in again). Without it every sign-in added a device that got a pending row per
   * message forever.
   */
  devicesPerUserMax: 10,
  /**
   * Push registrations per user. Each message to an offline user is pushed to every one (each
   * with up to 4 attempts), so this bounds the requests one message can cause per recipient.
   */
  pushTargetsPerUserMax: 10,
  /** Characters of a device push token. */
  deviceTokenCharsMax: 4096,
  /**
   * A request's headers must arrive within this long (a half-open upgrade included), and the
   * whole request within the next; past either it is answered 408 and closed.
   */
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  /**
   * Uploads whose bodies are being read at once, per node and per client address: each holds
   * up to its declared size in memory until stored, so these bound what uploads can pin.
   */
  uploadsInFlightMax: 8,
  uploadsInFlightPerAddressMax: 2,
  /** Largest media upload. */
  mediaBytesMax: 25 * 1024 * 1024,
  /**
   * Largest resumable upload (POST /api/v1/media/uploads): sent in parts, so a node never
   * holds more than one part of it per upload in flight.
   */
  mediaResumableBytesMax: 512 * 1024 * 1024,
  /** How long an unfinished resumable upload may be resumed; then it and its parts are removed. */
  mediaResumableTtlMs: 24 * 60 * 60 * 1000,
  /** Part URLs asked for in one call. */
  mediaPartUrlsPerRequestMax: 100,
  /** How long a pre-signed media URL stays valid. */
  mediaUrlTtlMs: 15 * 60 * 1000,
  /** Characters of a media filename. */
  mediaFilenameCharsMax: 255,
  /**
   * Conversations a media was sent in that GET /api/v1/media/{id} looks through for one the
   * caller belongs to (a media forwarded into more conversations than this is refused to
   * members of the later ones; the uploader always gets it).
   */
  mediaConversationsCheckedMax: 10_000,
  /**
   * Rate limit per connection: burst and sustained (API.md: 500 burst, 50/s sustained). `ack`
   * frames never count against it (a client must ack a replay of any size as it arrives).
   */
  connectionFramesBurst: 500,
  connectionFramesPerSecond: 50,
  /**
   * How long a frame may have waited between arriving and being read (the node busy, the
   * frames queued in the socket) without that wait costing its sender its allowance. The
   * contract's bucket runs on the client's clock; the gateway sees only when it reads a
   * frame. Read a burst late and the frames sent after it in the meantime are read right
   * behind it, at once: a client that kept to 500 + 50/s by its own clock looks like one
   * over it by 50/s times the wait (the production cluster answered 706 RATE_LIMITED in one
   * run to clients keeping to 500 + 45/s). So the gateway's bucket refills up to the moment
   * a frame could have arrived (this long before it was read) without its cap, the
   * tolerance a policer downstream of a shaper needs for the delay between them (ATM's
   * CDVT). A fresh connection still gets 500 at once, not more: nothing before it opened
   * counts. See takeToken in core/gateway/step.ts.
   */
  connectionFramesReadLagToleranceMs: 10_000,
  /**
   * WebSocket connections one user may hold on one gateway at once (every device and tab);
   * past it the upgrade is refused with 429. Each connection receives every message, so this
   * also bounds how many copies one send becomes.
   */
  connectionsPerUserMax: 32,
  /** WebSocket connections from one client address per gateway (0: no cap); NATs share one. */
  connectionsPerAddressMax: 2_000,
  /**
   * Sends a connection may have appended-but-unanswered at once before it is pushed back. At
   * least the burst, so that a burst the contract allows is never refused by this bound.
   */
  sendsInFlightPerConnectionMax: 1_000,
  /**
   * Replay pacing: once this many `new_message` frames sent on a connection are not yet acked,
   * the gateway reads no further page of pending messages until acks bring it below half,
   * or `replayAckWaitMs` passes (a client that does not ack still gets everything, slowly).
   * It keeps a backlog of any size from filling the socket's buffer (a 1013 close) or
   * outrunning the ack index below.
   */
  replayUnackedMax: 1_000,
  replayAckWaitMs: 5_000,
  /** `typing` is forwarded at most once per this long per connection and conversation (API.md). */
  typingIntervalMs: 3_000,
  /** Conversations whose last forwarded `typing` a connection remembers (oldest forgotten). */
  typingConversationsPerConnectionMax: 1_000,
  /** `typing` in groups with more members than this is not forwarded at all (API.md). */
  typingGroupMembersMax: 100,
  /** Messages the gateway remembers per connection to map an ack to its conversation. */
  deliveredIndexPerConnectionMax: 4096,
  /** Pending entries read per page when a device connects or resyncs. */
  pendingPageEntriesMax: 200,
  /** Live deliveries a connection buffers while a pending read for its conversation is out. */
  liveBufferPerConnectionMax: 4096,
  /**
   * Conversations whose delivery order a connection tracks (the greatest message emitted in
   * order, a read in flight). Past it the oldest idle one is forgotten: its next message
   * costs one pending read of that conversation, and may be sent again, which clients drop.
   */
  conversationStreamsPerConnectionMax: 1_000,
  /** Conversations whose order floor a router keeps in memory (older ones are re-read). */
  routerFloorCacheConversationsMax: 100_000,
  /**
   * Messages a router host remembers after persisting them, so that the ack of a message it
   * just delivered does not read the message back from the store (the ack comes to the same
   * router: it is keyed by the same conversation). Older ones are read from the store.
   */
  routerMessageCacheMax: 20_000,
  /** Records a router handles per batch. */
  routerBatchRecordsMax: 256,
  /**
   * Records a router works on at once (a conversation's send alone, its acks side by side).
   * Each waits mostly for a group commit or a store round trip, so concurrency is what fills
   * a commit: at 64 the all-in-one node's four routers sat at their limit with hundreds of
   * records queued while the CPU was not saturated (2,000 msg/s, p99 1.2 s, sends refused).
   */
  routerJobsMax: 256,
  /**
   * A router commits its finished offsets at most this often. Each commit is a write to the
   * log's offsets topic; committing after every record loaded the broker of a 2-core cluster
   * until delivery slowed tenfold. Later commits only mean more redelivery after a crash,
   * which handling makes harmless (it is idempotent).
   */
  routerCommitIntervalMs: 200,
  /** Presence: heartbeat interval a client is told to keep, and the TTL after the last beat. */
  heartbeatIntervalMs: 30_000,
  presenceTtlMs: 60_000,
  /** A gateway re-reads a device's pending entries at most this often (anti-entropy for a lost live delivery). */
  pendingResyncIntervalMs: 60_000,
  /** Session tokens live this long. */
  tokenTtlMs: 7 * 24 * 60 * 60 * 1000,
  /** The client resends an unanswered send after this long, with backoff doubling up to the max. */
  clientSendRetryMs: 5_000,
  clientSendRetryMaxMs: 60_000,
  /** Reconnect backoff: first delay and cap; the client adds jitter from its Random input. */
  clientReconnectBaseMs: 250,
  clientReconnectMaxMs: 30_000,
  /** Consecutive rejected frames after which a connection is closed as abusive (1008). */
  rejectedFramesRunMax: 20,
  /**
   * Consecutive frames refused as RATE_LIMITED after which a connection is closed (1008): a
   * whole further burst sent while being told to slow down is a flood.
   */
  rateLimitedFramesRunMax: 500,
  /** Sends one gateway process has handed to the log and not yet heard back on; past it, new sends get OVERLOADED. */
  gatewayAppendsInFlightMax: 5_000,
  /** A retry of a send already in the log is appended again only after this long without its `sent`. */
  gatewayReappendAfterMs: 30_000,
  /** A send the router has not answered within this long is forgotten by the gateway (the client retries). */
  gatewaySendForgetMs: 120_000,
  /**
   * The gateway's retry budget for an ack whose log append failed: this many attempts, backing
   * off from the base doubling up to the max, then the resync (anti-entropy) is left to cover
   * it. The simulator shrinks it so that an outage can outlast it.
   */
  ackAppendAttemptsMax: 8,
  ackAppendRetryBaseMs: 250,
  ackAppendRetryMaxMs: 30_000,
  /** Messages a client keeps for duplicate detection per conversation (beyond this, the order floor decides). */
  clientSeenPerConversationMax: 10_000,
} as const;

export type Limits = { -readonly [K in keyof typeof LIMITS]: number };

/** A copy of the defaults, to shrink in tests and simulations. */
export function defaultLimits(): Limits {
  return { ...LIMITS };
}
