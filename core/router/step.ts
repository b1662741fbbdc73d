/**
 * The router core. Rules of this file:
 *
 * 1. A conversation's records are handled one at a time, in log order; different
 *    conversations proceed concurrently (bounded by routerJobsMax). Polling is pipelined: the
 *    next batch is fetched while the last one is worked on (up to routerBatchRecordsMax
 *    records waiting), and a partition's offset is committed up to its first record still in
 *    flight, so concurrency never commits past unfinished work, and one slow conversation
 *    delays only its own records, not the batch it came in. (A stop-and-wait loop, poll →
 *    finish all → commit → poll, made every message wait for the slowest of its batch: p50
 *    1.4 s through the cluster at 100 msg/s.)
 * 2. A send is ordered (see ordering.ts), persisted (message, then a pending entry for every
 *    device that must receive it, then each member's inbox), and only then looked up in the
 *    session store and delivered. Pending before lookup is what makes the gateway's replay
 *    seam gap-free: a device that registered after our lookup finds the entry in its scan.
 * 3. An offset is committed only after every record before it is done (and the partition's
 *    ID checkpoint at that offset is written, see ordering.ts). Handling a record again (after
 *    a crash, a rebalance, or by a stale router at the same time) repeats only idempotent
 *    effects: its ID is a function of the log (its partition's chain), the dedup record and
 *    puts are keyed plain writes of the same values, pending is a two-phase set, receipts
 *    merge by max.
 * 4. A send whose (sender, conversation, client_msg_id) already has a dedup record from
 *    another log record is a client's retry: it gets `sent` with the original ID and nothing
 *    else happens (or CLIENT_MSG_ID_REUSED when its content differs).
 * 5. Membership is checked here, as of when the message is ordered (invariants 1 and 9): a
 *    sender outside the conversation gets a non-retryable error and no message is stored.
 *    The audience is fixed at ordering time too: a group send's dedup record (SendClaim)
 *    records the members it was ordered for, and a redelivery of its record (a crash or a
 *    rebalance before the commit) fans out to exactly those, whoever joined or left since.
 *    Loading the group again instead sent a message to a user who joined after it was
 *    ordered (invariant 9) and skipped one who left after it (invariant 1); the simulator's
 *    joins and leaves found it (sim seed 16).
 *
 *    Why the audience lives in the dedup record, as a list of user IDs. The dedup record is
 *    the one record that fixes a send's outcome (its ID, its previous ID, the log record
 *    that carries it), and every later handling of the send reads it anyway, in the one read
 *    round of `prepare_send`: the audience comes back in the same read, with no extra call
 *    on the common path, and is written in the same plain write as before (with the message,
 *    no conditional write: the partition's order makes the first record of a key the only
 *    writer, ordering.ts). Its price is the members' IDs once per group message (at most
 *    groupMembersMax), small beside the pending entry per member device, each carrying the
 *    whole message, that the same message writes. The alternative, a membership version
 *    stored with the message and a directory that can answer "the members as of version
 *    v", would need the directory (another database) to keep every group's membership
 *    history, with tombstoned rows instead of deletions, for as long as the log can
 *    redeliver a record. Direct messages store no list: their two users are in the
 *    conversation ID and never change. A dedup record written before the stores kept the
 *    audience (members null) falls back to the group as it is now, the old behaviour. The
 *    old per-(sender, client_msg_id) claim (DedupClaim, dedup_claims) keeps no audience:
 *    nothing on the send path reads it any more.
 *
 *    A group's refusal is recorded the same way: a group sender outside the group gets a
 *    dedup record whose members leave the sender out (written by `record_refusal` before
 *    the answer goes out), and every record of the same send that comes later gets that
 *    answer. A member's send is accepted for good, even when handled again after the sender
 *    left; a non-member's `NOT_A_MEMBER` is final, even for a retry handled after the sender
 *    joined. (Refusing from the directory alone answered two records of one send
 *    differently: the first was refused, the client reported a definite failure, and a
 *    retry appended before that answer arrived was handled after the sender rejoined and
 *    delivered: invariant 2, sim seed 122.) The other refusals (an unknown group or user)
 *    cannot change their answer, since IDs are never reused, so they write nothing.
 *
 *    What this does not cover: the dedup record is written together with the message, its
 *    pending entries and inboxes (one write round, rule 2), not before them. A router that
 *    crashes after some of those writes landed but not the dedup record leaves nothing that
 *    names the audience, so the redelivery takes the group as it is then. Closing that
 *    would cost a second write round per send (the dedup record first); the window is one
 *    crash between concurrent writes and a membership change before the redelivery.
 * 6. A call that fails is retried after a capped exponential backoff, never skipped: a stuck
 *    store stalls the partition (backpressure), it never loses a record.
 */
import { assert, unreachable } from "../result.js";
import { directPeer, parseConversationId } from "../ids/conversation.js";
import type { AckRecord, ConsumedRecord, DedupClaim, Delivery, IdCheckpoint, InboxEntry, PendingEntry, SendClaim, SendRecord, StoredMessage } from "../model.js";
import { isoFromMs, toNewMessage } from "../model.js";
import { snowflakeUnixMs } from "../ids/snowflake.js";
import { chainInit, chainNext, floorGet, floorRaise, nextMessageId, sendDigest } from "./ordering.js";
import type { Job, PartitionProgress, RouterState } from "./state.js";
import type { AudienceQuery } from "./types.js";
import type { RouterCall, RouterCallResult, RouterEffect, RouterInput } from "./types.js";

type Out = RouterEffect[];

const RETRY_BASE_MS = 20;
const RETRY_MAX_MS = 5_000;

/** Feeds one input; mutates `state` (owned by the caller) and returns the effects. */
export function routerStep(state: RouterState, input: RouterInput): Out {
  const out = stepOnce(state, input);
  assertBounds(state);
  return out;
}

/**
 * What holds between steps, checked after every one (cheap checks only: this runs per
 * input). A failure is a bug in this file, never bad input: inputs come from the host.
 */
function assertBounds(state: RouterState): void {
  const { routerJobsMax, routerBatchRecordsMax } = state.config.limits;
  assert(state.jobs.size <= routerJobsMax, `router: ${state.jobs.size} jobs, over routerJobsMax ${routerJobsMax}`);
  // Polling pauses once a batch waits, and one poll brings at most a batch.
  assert(state.queued >= 0 && state.queued < 2 * routerBatchRecordsMax, `router: ${state.queued} records queued, outside [0, ${2 * routerBatchRecordsMax})`);
  // Every queue holds at least one record (an emptied one is deleted), so there are no more queues than records.
  assert(state.queues.size <= state.queued, `router: ${state.queues.size} queues for ${state.queued} queued records`);
  // Queued records wait in a queue, or held until their partition's ID chain is loaded (ordering.ts).
  if (state.queues.size === 0) {
    let held = 0;
    for (const p of state.partitions.values()) held += p.held.length;
    assert(state.queued === held, `router: ${state.queued} records counted as queued, none in a queue (${held} held for a chain)`);
  }
  // Every running conversation has a job, and a send runs alone in its conversation.
  assert(state.running.size <= state.jobs.size, `router: ${state.running.size} conversations running ${state.jobs.size} jobs`);
  assert(!state.committing || state.commit_in_flight.length > 0, "router: a commit in flight carries no offsets");
}

function stepOnce(state: RouterState, input: RouterInput): Out {
  const out: Out = [];
  switch (input.type) {
    case "records_polled":
      state.polling = false;
      for (const r of input.records) {
        if (r.generation > state.generation) newGeneration(state, r.generation);
        // A record of an older generation than one already seen (a fetch that was in flight
        // across the rebalance) is dropped: its partition's fetching restarted at the commit,
        // so it comes again or goes to the new owner. Handling it could skip records: the
        // newer generation already dropped the older one's queued records, and a router must
        // never claim a record after skipping one before it in its partition (the simulator
        // found exactly that, seed 227: a stale stream resumed past dropped records and won
        // claims numbered below the ones the owner then gave the skipped records).
        if (r.generation < state.generation) continue;
        let p = state.partitions.get(r.partition);
        if (p === undefined) {
          state.partitions.set(r.partition, (p = newProgress()));
          loadChain(state, out, p, r.partition, r.offset);
        }
        // A repeat (a poll that answered late) is dropped: the record is queued or done
        // already, and numbering it again would move the chain past where other routers have it.
        if (!track(p, r)) continue;
        state.queued++;
        if (p.chain === null) p.held.push(r);
        else enqueue(state, p, r);
      }
      if (state.config.variant === "commit_before_persist") {
        // Broken on purpose: the offsets move before anything is durable.
        for (const r of input.records) finishOffset(state, r.partition, r.offset);
      }
      advance(state, out, input.now_ms);
      return out;
    case "effect_completed": {
      if (input.job < 0) {
        if (input.result.type === "load_chain") onChainLoaded(state, out, input.job, input.result.checkpoint);
        advance(state, out, input.now_ms);
        return out;
      }
      if (input.result.type === "commit") {
        onCommitted(state, out, input.result.outcome);
        advance(state, out, input.now_ms);
        return out;
      }
      const job = jobById(state, input.job);
      if (job === null) return out;
      job.call = null;
      job.attempt = 0;
      onResult(state, out, job, input.result);
      advance(state, out, input.now_ms);
      return out;
    }
    case "effect_failed": {
      if (input.job < 0) {
        const load = state.chain_loads.get(input.job);
        if (load === undefined) return out;
        load.retry_at_ms = input.now_ms + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(++load.attempt, 16));
        out.push({ type: "set_timer", at_ms: load.retry_at_ms }, { type: "observed", what: "effect_retried" });
        return out;
      }
      const isCommit = state.committing && input.job === 0;
      const job = isCommit ? null : jobById(state, input.job);
      if (!isCommit && job === null) return out;
      const attempt = isCommit ? ++state.commit_attempt : ++job!.attempt;
      const at_ms = input.now_ms + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 16));
      if (isCommit) state.commit_retry_at_ms = at_ms;
      else job!.retry_at_ms = at_ms;
      out.push({ type: "set_timer", at_ms }, { type: "observed", what: "effect_retried" });
      return out;
    }
    case "timer_fired": {
      // Re-send what is due. Anything not yet due (woken early: the clock stepped back, or
      // another retry's timer) is covered by one timer for the earliest of them — one, not
      // one per job, or timers would multiply with every wake-up.
      let next_ms = Number.POSITIVE_INFINITY;
      if (state.commit_retry_at_ms !== null) {
        if (input.now_ms >= state.commit_retry_at_ms) {
          state.commit_retry_at_ms = null;
          state.committing = false;
          maybeCommit(state, out, input.now_ms);
        } else next_ms = Math.min(next_ms, state.commit_retry_at_ms);
      }
      if (state.commit_due_at_ms !== null) {
        if (input.now_ms >= state.commit_due_at_ms) {
          state.commit_due_at_ms = null;
          maybeCommit(state, out, input.now_ms);
        } else next_ms = Math.min(next_ms, state.commit_due_at_ms);
      }
      for (const [id, load] of state.chain_loads) {
        if (load.retry_at_ms === null) continue;
        if (input.now_ms >= load.retry_at_ms) {
          load.retry_at_ms = null;
          out.push({ type: "call", job: id, call: load.call });
        } else next_ms = Math.min(next_ms, load.retry_at_ms);
      }
      for (const job of state.jobs.values()) {
        if (job.retry_at_ms === null) continue;
        if (input.now_ms >= job.retry_at_ms) {
          job.retry_at_ms = null;
          if (job.call !== null) out.push({ type: "call", job: job.id, call: job.call });
        } else next_ms = Math.min(next_ms, job.retry_at_ms);
      }
      if (next_ms !== Number.POSITIVE_INFINITY) out.push({ type: "set_timer", at_ms: next_ms });
      return out;
    }
    default:
      return unreachable(input);
  }
}

function jobById(state: RouterState, id: number): Job | null {
  for (const job of state.jobs.values()) if (job.id === id) return job;
  return null;
}

/**
 * Starts the next record of every idle conversation, commits what is finished (one commit in
 * flight at a time, so commits batch themselves), and polls while fewer than a batch of
 * records wait.
 */
function advance(state: RouterState, out: Out, now_ms: number): void {
  for (const [conversation, queue] of state.queues) {
    if (state.jobs.size >= state.config.limits.routerJobsMax) break;
    while (state.jobs.size < state.config.limits.routerJobsMax) {
      const record = queue[0];
      if (record === undefined) break;
      const running = state.running.get(conversation);
      const send = record.record.kind === "send";
      // See RouterState.queues: a send runs alone in its conversation; acks run beside acks.
      if (running !== undefined && (send || running.send)) break;
      queue.shift();
      state.queued--;
      const id = state.next_job++;
      const job: Job = {
        id,
        key: send ? conversation : `${conversation}\u0000${id}`,
        record,
        call: null,
        attempt: 0,
        retry_at_ms: null,
        send: { floor: null, members: [], devices: {}, candidate: null, winner: null, message: null },
        ack: { message: null },
      };
      state.jobs.set(job.key, job);
      if (running === undefined) state.running.set(conversation, { jobs: 1, send });
      else running.jobs++;
      begin(state, out, job, now_ms);
    }
    if (queue.length === 0) state.queues.delete(conversation);
  }
  maybeCommit(state, out, now_ms);
  if (!state.polling && state.queued < state.config.limits.routerBatchRecordsMax) {
    state.polling = true;
    out.push({ type: "poll", max_records: state.config.limits.routerBatchRecordsMax });
  }
}

/**
 * Records of a newer generation: the group rebalanced and fetching restarted at the commits.
 * From here on, records of older generations are dropped when polled (see records_polled).
 */
function newGeneration(state: RouterState, generation: number): void {
  state.generation = generation;
  // Every partition's chain is loaded again, at the new generation's first offset: what this
  // router numbered past the commit may be numbered by another router meanwhile (alike).
  for (const p of state.partitions.values()) state.queued -= p.held.length;
  state.partitions.clear();
  for (const [id, load] of state.chain_loads) if (load.generation < generation) state.chain_loads.delete(id);
  // Records of the old generation not yet started are dropped: each comes again in this
  // generation (if this router kept its partition) or goes to its new owner. Jobs in flight
  // finish (their effects are idempotent) but are not committed.
  for (const [key, queue] of state.queues) {
    const kept = queue.filter((r) => r.generation >= generation);
    state.queued -= queue.length - kept.length;
    for (const r of queue) if (r.generation < generation) state.ids.delete(r);
    if (kept.length === 0) state.queues.delete(key);
    else state.queues.set(key, kept);
  }
}

function newProgress(): PartitionProgress {
  return {
    chain: null,
    chain_offset: 0,
    chain_loading: false,
    held: [],
    chain_after: [],
    chain_at_committable: null,
    outstanding: [],
    finished: new Set(),
    committable: null,
    committed: null,
  };
}

/** Records an offset as outstanding; false when it was seen already in this generation. */
function track(p: PartitionProgress, r: ConsumedRecord): boolean {
  const last = p.outstanding[p.outstanding.length - 1];
  if ((last !== undefined && r.offset <= last) || (p.committable !== null && r.offset < p.committable)) return false;
  p.outstanding.push(r.offset);
  return true;
}

/** Asks for the checkpoint at the first offset this generation brought of the partition. */
function loadChain(state: RouterState, out: Out, p: PartitionProgress, partition: number, offset: number): void {
  p.chain_loading = true;
  p.chain_offset = offset;
  const id = -state.next_job++;
  const c = { type: "load_chain" as const, partition, offset };
  state.chain_loads.set(id, { partition, generation: state.generation, call: c, attempt: 0, retry_at_ms: null });
  out.push({ type: "call", job: id, call: c });
}

function onChainLoaded(state: RouterState, out: Out, id: number, checkpoint: IdCheckpoint | null): void {
  const load = state.chain_loads.get(id);
  if (load === undefined) return;
  state.chain_loads.delete(id);
  if (load.generation !== state.generation) return;
  const p = state.partitions.get(load.partition);
  if (p === undefined || p.chain !== null || p.chain_offset !== load.call.offset) return;
  out.push({ type: "observed", what: "chain_loaded" });
  p.chain = chainInit(load.partition, checkpoint);
  p.chain_loading = false;
  if (p.chain_at_committable === null) p.chain_at_committable = p.chain;
  const held = p.held;
  p.held = [];
  for (const r of held) enqueue(state, p, r);
}

/** Numbers a send from its partition's chain (in offset order) and queues the record. */
function enqueue(state: RouterState, p: PartitionProgress, r: ConsumedRecord): void {
  if (r.record.kind === "send" && p.chain !== null) {
    const next = chainNext(p.chain, r.record.accepted_at_ms);
    p.chain = next.state;
    p.chain_after.push({ offset: r.offset, state: next.state });
    state.ids.set(r, next.id);
  }
  const key = r.record.conversation_id;
  let queue = state.queues.get(key);
  if (queue === undefined) state.queues.set(key, (queue = []));
  queue.push(r);
}

/** A tracked record is done: the partition's committable offset moves past every finished prefix. */
function finishOffset(state: RouterState, partition: number, offset: number): void {
  const p = state.partitions.get(partition);
  if (p === undefined) return;
  if (p.outstanding[0] !== offset) {
    if (p.outstanding.includes(offset)) p.finished.add(offset);
    return;
  }
  p.outstanding.shift();
  p.committable = offset + 1;
  while (p.outstanding.length > 0 && p.finished.delete(p.outstanding[0]!)) p.committable = p.outstanding.shift()! + 1;
  while (p.chain_after.length > 0 && p.chain_after[0]!.offset < p.committable) p.chain_at_committable = p.chain_after.shift()!.state;
}

function call(out: Out, job: Job, c: RouterCall): void {
  job.call = c;
  out.push({ type: "call", job: job.id, call: c });
}

function finish(state: RouterState, job: Job): void {
  const r = job.record;
  if (r.generation === state.generation && state.config.variant !== "commit_before_persist") finishOffset(state, r.partition, r.offset);
  if (!state.jobs.delete(job.key)) return;
  const running = state.running.get(r.record.conversation_id);
  if (running !== undefined && --running.jobs === 0) state.running.delete(r.record.conversation_id);
}

function begin(state: RouterState, out: Out, job: Job, now_ms: number): void {
  const record = job.record.record;
  if (record.kind === "ack") {
    call(out, job, { type: "load_message", conversation_id: record.conversation_id, message_id: record.message_id });
    return;
  }
  const id = state.ids.get(job.record);
  if (id === undefined) throw new Error(`router: send at ${job.record.partition}:${job.record.offset} began without an ID`);
  state.ids.delete(job.record);
  job.send.candidate = id;
  const floor = floorGet(state.floors, record.conversation_id, job.record.generation);
  if (floor !== undefined) job.send.floor = floor;
  void now_ms;
  if (state.config.variant === "dedup_cache_only") {
    if (floor === undefined) call(out, job, { type: "load_floor", conversation_id: record.conversation_id, below: id });
    else call(out, job, { type: "load_audience", query: audienceOf(record) });
    return;
  }
  // One round of independent reads: audience (the directory), dedup record (the message
  // store) and, for a conversation's first send in a generation, its floor. In sequence they
  // were three waits per message on a loaded box.
  call(out, job, {
    type: "prepare_send",
    query: audienceOf(record),
    sender_id: record.sender_id,
    conversation_id: record.conversation_id,
    client_msg_id: record.client_msg_id,
    floor_below: floor === undefined ? id : null,
  });
}

function audienceOf(record: SendRecord): AudienceQuery {
  if (record.target.kind === "group") return { kind: "group", group_id: record.target.group_id };
  const ref = parseConversationId(record.conversation_id);
  const pair: [string, string] = ref !== null && ref.kind === "direct" ? [ref.user_ids[0], ref.user_ids[1]] : [record.sender_id, record.target.to];
  return { kind: "direct", user_ids: pair };
}

function onResult(state: RouterState, out: Out, job: Job, result: RouterCallResult): void {
  const record = job.record.record;
  if (record.kind === "ack") {
    onAckResult(state, out, job, record, result);
    return;
  }
  switch (result.type) {
    case "prepare_send":
      if (result.floor !== null) {
        out.push({ type: "observed", what: "floor_loaded" });
        floorRaise(state.floors, record.conversation_id, result.floor.last_message_id, job.record.generation);
        job.send.floor = floorGet(state.floors, record.conversation_id, job.record.generation) ?? null;
      }
      onPrepared(state, out, job, record, result.members, result.devices, result.found);
      return;
    case "load_floor":
      // Only the broken variant "dedup_cache_only" reads these one at a time.
      out.push({ type: "observed", what: "floor_loaded" });
      floorRaise(state.floors, record.conversation_id, result.last_message_id, job.record.generation);
      job.send.floor = floorGet(state.floors, record.conversation_id, job.record.generation) ?? null;
      call(out, job, { type: "load_audience", query: audienceOf(record) });
      return;
    case "load_audience":
      if (job.send.message !== null) {
        // The devices of the audience the send's dedup record fixed (see onClaim): write it out.
        job.send.members = result.members ?? [];
        job.send.devices = result.devices;
        persistMessage(out, job, record, job.send.message);
        return;
      }
      if (!acceptAudience(state, out, job, record, result.members, result.devices)) return;
      // Broken on purpose: a retry after the cache forgot becomes a second message.
      call(out, job, { type: "claim_cached", claim: ownClaim(job, record, null), ttl_ms: 5 * 60_000 });
      return;
    case "claim":
      onClaim(state, out, job, record, result.winner);
      return;
    case "record_refusal":
      // Durable now: every other record of this send will find it and be refused alike.
      rejectSend(state, out, job, record, ...refusal(record, false));
      return;
    case "persist":
      call(out, job, { type: "locate", user_ids: job.send.members });
      return;
    case "locate":
      deliverMessage(state, out, job, record, result.sessions);
      return;
    default:
      // A result that does not belong to a send's step is a host bug.
      throw new Error(`router: unexpected ${result.type} result for a send`);
  }
}

/**
 * A send's one read round came back: the group (or the direct pair) as it is now, and the
 * send's dedup record if one exists. Who decides whether the send is accepted, and who its
 * audience is (rule 5):
 * - a dedup record that recorded an audience (a group send ordered since the stores keep it):
 *   that audience, whatever the group is now; onClaim refuses it if the sender was not in it;
 * - no dedup record, a group sender outside the group: the refusal is recorded first
 *   (`record_refusal`), then answered, so no later record of the send can be accepted;
 * - otherwise (a new send, a direct message, a record from before the stores kept the
 *   audience): the directory as it is now.
 */
function onPrepared(
  state: RouterState,
  out: Out,
  job: Job,
  record: SendRecord,
  members: readonly string[] | null,
  devices: Readonly<Record<string, readonly string[]>>,
  found: SendClaim | null,
): void {
  if (found !== null && found.members !== null) {
    // The recorded audience decides; today's group is kept only to tell whether the
    // devices just loaded are the right ones (onClaim compares the two lists).
    job.send.members = members ?? [];
    job.send.devices = devices;
    onClaim(state, out, job, record, found);
    return;
  }
  if (found === null && record.target.kind === "group" && members !== null && !members.includes(record.sender_id)) {
    out.push({ type: "observed", what: "send_refusal_recorded" });
    call(out, job, { type: "record_refusal", claim: ownClaim(job, record, members) });
    return;
  }
  if (!acceptAudience(state, out, job, record, members, devices)) return;
  onClaim(state, out, job, record, found);
}

/** The audience check against the directory as it is now; false when the send was refused. */
function acceptAudience(
  state: RouterState,
  out: Out,
  job: Job,
  record: SendRecord,
  members: readonly string[] | null,
  devices: Readonly<Record<string, readonly string[]>>,
): boolean {
  if (members === null || !members.includes(record.sender_id)) {
    rejectSend(state, out, job, record, ...refusal(record, members === null));
    return false;
  }
  job.send.members = members;
  job.send.devices = devices;
  if (state.config.variant === "order_by_gateway_clock") {
    // Broken on purpose: the gateway's clock decides, whatever the log order was.
    const next = nextMessageId(state.generator, record.accepted_at_ms, null);
    state.generator = next.generator;
    job.send.candidate = next.message_id;
  }
  return true;
}

/** The error code and sentence for a send refused because its audience is unknown or leaves the sender out. */
function refusal(record: SendRecord, unknown: boolean): [code: string, message: string] {
  if (record.target.kind === "direct") return ["UNKNOWN_USER", `User ${record.target.to} does not exist.`];
  return unknown ? ["NOT_FOUND", `Group ${record.target.group_id} does not exist.`] : ["NOT_A_MEMBER", `You are not a member of group ${record.target.group_id}.`];
}

/**
 * This record's own dedup record. `members`: a group send's audience as loaded now (the
 * sender not among them for a refusal); null for a direct message.
 */
function ownClaim(job: Job, record: SendRecord, members: readonly string[] | null): SendClaim {
  return {
    sender_id: record.sender_id,
    client_msg_id: record.client_msg_id,
    message_id: job.send.candidate!,
    conversation_id: record.conversation_id,
    prev_message_id: job.send.floor,
    position: { partition: job.record.partition, offset: job.record.offset },
    digest: sendDigest(record.type, record.content),
    members: record.target.kind === "group" ? members : null,
  };
}

/** The audience a dedup record fixed, if it fixed one (see SendClaim.members). */
function recordedAudience(found: DedupClaim | SendClaim): readonly string[] | null {
  return "members" in found ? (found as SendClaim).members : null;
}

/**
 * The dedup record found for the send's key (null: none). Another record's is a client's
 * retry (or a reuse with other content); this record's own is a redelivery, which repeats
 * the same writes; none makes this record the message, numbered by its chain ID. A record
 * whose audience leaves the sender out is a recorded refusal: every record of it is refused.
 */
function onClaim(state: RouterState, out: Out, job: Job, record: SendRecord, found: DedupClaim | SendClaim | null): void {
  const sameRecord = found !== null && found.position.partition === job.record.partition && found.position.offset === job.record.offset;
  if (found !== null && !sameRecord) {
    const reused = found.conversation_id !== record.conversation_id || ("digest" in found && found.digest !== sendDigest(record.type, record.content));
    if (reused) {
      out.push({ type: "observed", what: "send_id_reused" });
      rejectSend(
        state,
        out,
        job,
        record,
        "CLIENT_MSG_ID_REUSED",
        `client_msg_id ${record.client_msg_id} was already used for another message in this conversation; use a new UUID for a new message.`,
      );
      return;
    }
  }
  const audience = found === null ? null : recordedAudience(found);
  if (audience !== null && !audience.includes(record.sender_id)) {
    // A refusal recorded when the send was first handled (the sender was outside the group):
    // refused again, for this record and every other of the same send, even if the sender
    // has joined since (rule 5). No message exists, so the floor stays where it is.
    rejectSend(state, out, job, record, ...refusal(record, false));
    return;
  }
  if (found !== null && !sameRecord) {
    // A client's retry of a send that another log record already carries: answer `sent`.
    out.push({ type: "observed", what: "send_retry_answered" });
    out.push({ type: "deliver", gateway_id: record.origin.gateway_id, deliveries: [sentReceipt(record, found.message_id, found.prev_message_id)] });
    finish(state, job);
    return;
  }
  const claim = found ?? ownClaim(job, record, job.send.members);
  floorRaise(state.floors, record.conversation_id, claim.message_id, job.record.generation);
  out.push({ type: "observed", what: found === null ? "send_ordered" : "send_redelivered" });
  const message: StoredMessage = {
    message_id: claim.message_id,
    conversation_id: record.conversation_id,
    sender_id: record.sender_id,
    sender_device_id: record.sender_device_id,
    group_id: record.target.kind === "group" ? record.target.group_id : null,
    content: record.content,
    type: record.type,
    client_msg_id: record.client_msg_id,
    // The ID's own time, not this router's clock: a redelivery must store the same message.
    sent_at_ms: snowflakeUnixMs(claim.message_id),
    prev_message_id: claim.prev_message_id,
  };
  job.send.winner = claim;
  job.send.message = message;
  if (audience !== null && !sameList(audience, job.send.members)) {
    // A redelivery, and the group changed since the message was ordered: its audience is
    // the one its dedup record fixed (rule 5), whose devices are loaded next.
    out.push({ type: "observed", what: "send_audience_restored" });
    call(out, job, { type: "load_audience", query: { kind: "users", user_ids: audience } });
    return;
  }
  persistMessage(out, job, record, message);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Writes the message with its dedup record, a pending entry per audience device (the
 * sender's own excepted) and every member's inbox.
 */
function persistMessage(out: Out, job: Job, record: SendRecord, message: StoredMessage): void {
  const pending: PendingEntry[] = [];
  for (const user_id of job.send.members) {
    for (const device_id of job.send.devices[user_id] ?? []) {
      if (user_id === record.sender_id && device_id === record.sender_device_id) continue;
      pending.push({ user_id, device_id, message });
    }
  }
  const inbox: InboxEntry[] = job.send.members.map((user_id) => ({
    user_id,
    conversation_id: record.conversation_id,
    kind: record.target.kind,
    other_user_id: record.target.kind === "direct" ? job.send.members.find((m) => m !== user_id) ?? null : null,
    group_id: record.target.kind === "group" ? record.target.group_id : null,
    last_message_id: message.message_id,
    last_message_at_ms: message.sent_at_ms,
    last_message_preview: preview(message),
  }));
  // A redelivery rewrites its own record's dedup record too (the same value): a stale router
  // may be writing it right now, and either write leaves the row as it must be. (Only the
  // broken variant "dedup_cache_only" has a claim without a digest, which is not written.)
  const winner = job.send.winner;
  const claim: SendClaim | null = winner !== null && "digest" in winner ? (winner as SendClaim) : null;
  call(out, job, { type: "persist", message, pending, inbox, claim });
}

function preview(message: StoredMessage): string {
  if (message.type === "image") return "📷 Photo";
  if (message.type === "file") return "📎 File";
  return message.content.length > 120 ? `${message.content.slice(0, 119)}…` : message.content;
}

function deliverMessage(
  state: RouterState,
  out: Out,
  job: Job,
  record: SendRecord,
  sessions: Readonly<Record<string, readonly import("../model.js").SessionEntry[]>>,
): void {
  const message = job.send.message;
  if (message === null) throw new Error("router: deliver without a message");
  const data = toNewMessage(message, isoFromMs);
  const byGateway = new Map<string, Delivery[]>();
  const add = (gateway_id: string, d: Delivery): void => {
    let list = byGateway.get(gateway_id);
    if (list === undefined) byGateway.set(gateway_id, (list = []));
    list.push(d);
  };
  const removals: { user_id: string; device_id: string }[] = [];
  for (const user_id of job.send.members) {
    const live = sessions[user_id] ?? [];
    const devices = job.send.devices[user_id] ?? [];
    let reachable = false;
    for (const s of live) {
      if (user_id === record.sender_id && s.device_id === record.sender_device_id) continue;
      if (!devices.includes(s.device_id)) continue; // A device newer than this message.
      reachable = true;
      add(s.gateway_id, {
        kind: "message",
        connection_id: s.connection_id,
        user_id,
        device_id: s.device_id,
        message: data,
        prev_message_id: message.prev_message_id,
      });
      removals.push({ user_id, device_id: s.device_id });
    }
    if (!reachable && user_id !== record.sender_id && live.length === 0) {
      out.push({
        type: "push",
        user_id,
        notification: {
          user_id,
          conversation_id: message.conversation_id,
          message_id: message.message_id,
          from: message.sender_id,
          group_id: message.group_id,
          preview: state.config.push_preview_chars > 0 ? preview(message).slice(0, state.config.push_preview_chars) : null,
        },
      });
    }
  }
  add(record.origin.gateway_id, sentReceipt(record, message.message_id, message.prev_message_id));
  for (const [gateway_id, deliveries] of byGateway) out.push({ type: "deliver", gateway_id, deliveries });
  if (state.config.variant === "delete_pending_on_delivery" && removals.length > 0) {
    // Broken on purpose: forgets the pending entries as if handing them to a gateway were enough.
    out.push({
      type: "remove_pending",
      entries: removals.map((r) => ({ ...r, conversation_id: message.conversation_id, message_id: message.message_id })),
    });
  }
  finish(state, job);
}

function sentReceipt(record: SendRecord, message_id: string, prev_message_id: string | null): Delivery {
  return {
    kind: "receipt",
    connection_id: record.origin.connection_id,
    receipt: { message_id, conversation_id: record.conversation_id, status: "sent", client_msg_id: record.client_msg_id },
    prev_message_id,
  };
}

function rejectSend(state: RouterState, out: Out, job: Job, record: SendRecord, code: string, message: string): void {
  out.push({ type: "observed", what: "send_rejected" });
  out.push({
    type: "deliver",
    gateway_id: record.origin.gateway_id,
    deliveries: [{ kind: "error", connection_id: record.origin.connection_id, code, message, client_msg_id: record.client_msg_id, retryable: false }],
  });
  finish(state, job);
}

// ---- acks -------------------------------------------------------------------------------

function onAckResult(state: RouterState, out: Out, job: Job, record: AckRecord, result: RouterCallResult): void {
  switch (result.type) {
    case "load_message": {
      const message = result.message;
      if (message === null) {
        // No such message here: nothing to report to a sender. But the device says it has
        // this message, and a device may always clear its own pending entry (it can only name
        // itself), so do that: an entry left behind would be sent again forever.
        out.push({ type: "observed", what: "ack_ignored" });
        clearOwnEntry(out, job, record);
        return;
      }
      job.ack.message = message;
      const ref = parseConversationId(record.conversation_id);
      if (ref === null) {
        finish(state, job);
        return;
      }
      if (ref.kind === "group") {
        call(out, job, { type: "check_member", group_id: ref.group_id, user_id: record.user_id });
        return;
      }
      if (directPeer(ref, record.user_id) === null) {
        out.push({ type: "observed", what: "ack_ignored" });
        finish(state, job);
        return;
      }
      applyAck(out, job, record, message);
      return;
    }
    case "check_member":
      if (job.ack.message === null) {
        out.push({ type: "observed", what: "ack_ignored" });
        finish(state, job);
        return;
      }
      if (!result.is_member) {
        // Not a member now: no receipt, no read mark. But the device may have been one when
        // the message was ordered (it left since), and its entry would otherwise be replayed
        // forever: it may always clear its own entry (the simulator's group leaves found it).
        out.push({ type: "observed", what: "ack_ignored" });
        clearOwnEntry(out, job, record);
        return;
      }
      applyAck(out, job, record, job.ack.message);
      return;
    case "apply_ack": {
      out.push({ type: "observed", what: "ack_applied" });
      const message = job.ack.message;
      if (message === null || result.receipt_status !== record.status || message.sender_id === record.user_id) {
        finish(state, job);
        return;
      }
      call(out, job, { type: "locate", user_ids: [message.sender_id] });
      return;
    }
    case "locate": {
      const message = job.ack.message;
      if (message !== null) {
        const byGateway = new Map<string, Delivery[]>();
        for (const s of result.sessions[message.sender_id] ?? []) {
          const list = byGateway.get(s.gateway_id) ?? [];
          list.push({
            kind: "receipt",
            connection_id: s.connection_id,
            receipt: { message_id: message.message_id, conversation_id: message.conversation_id, status: record.status, user_id: record.user_id },
            prev_message_id: null,
          });
          byGateway.set(s.gateway_id, list);
        }
        for (const [gateway_id, deliveries] of byGateway) out.push({ type: "deliver", gateway_id, deliveries });
      }
      finish(state, job);
      return;
    }
    default:
      throw new Error(`router: unexpected ${result.type} result for an ack`);
  }
}

/** An ack that earns no receipt still clears the acking device's own pending entry (a device may always clear its own). */
function clearOwnEntry(out: Out, job: Job, record: AckRecord): void {
  call(out, job, {
    type: "apply_ack",
    pending_remove: { user_id: record.user_id, device_id: record.device_id, conversation_id: record.conversation_id, message_id: record.message_id },
    receipt: null,
    mark_read: null,
  });
}

function applyAck(out: Out, job: Job, record: AckRecord, message: StoredMessage): void {
  const own = message.sender_id === record.user_id;
  call(out, job, {
    type: "apply_ack",
    pending_remove: { user_id: record.user_id, device_id: record.device_id, conversation_id: record.conversation_id, message_id: record.message_id },
    receipt: own ? null : { message_id: record.message_id, user_id: record.user_id, status: record.status },
    mark_read: record.status === "read" ? { user_id: record.user_id, conversation_id: record.conversation_id, message_id: record.message_id } : null,
  });
}

// ---- commits ----------------------------------------------------------------------------

/**
 * Commits every partition whose committable offset moved, unless a commit is in flight or
 * the last one went out less than routerCommitIntervalMs ago (then a timer brings it).
 */
function maybeCommit(state: RouterState, out: Out, now_ms: number): void {
  if (state.committing || state.commit_retry_at_ms !== null) return;
  const offsets: { partition: number; offset: number }[] = [];
  for (const [partition, p] of state.partitions) {
    if (p.committable !== null && p.committable !== p.committed) offsets.push({ partition, offset: p.committable });
  }
  if (offsets.length === 0) return;
  const due_ms = state.last_commit_ms + state.config.limits.routerCommitIntervalMs;
  // A clock that stepped back (now before the last commit) does not hold commits back.
  if (now_ms < due_ms && now_ms >= state.last_commit_ms) {
    if (state.commit_due_at_ms === null) {
      state.commit_due_at_ms = due_ms;
      out.push({ type: "set_timer", at_ms: due_ms });
    }
    return;
  }
  state.last_commit_ms = now_ms;
  state.committing = true;
  state.commit_in_flight = offsets;
  state.commit_generation = state.generation;
  // Where each partition's chain stands at its new offset, written before the commit: the
  // router that starts there next numbers on from exactly that state (ordering.ts).
  const checkpoints: IdCheckpoint[] = [];
  for (const { partition, offset } of offsets) {
    const chain = state.partitions.get(partition)?.chain_at_committable ?? null;
    if (chain !== null) checkpoints.push({ partition, offset, last_ms: chain.last_ms, sequence: chain.sequence });
  }
  // Job 0 is the commit: there is at most one in flight.
  out.push({ type: "call", job: 0, call: { type: "commit", offsets, generation: state.generation, checkpoints } });
}

function onCommitted(state: RouterState, out: Out, outcome: "ok" | "fenced"): void {
  if (!state.committing) return;
  state.committing = false;
  state.commit_attempt = 0;
  const carried = state.commit_in_flight;
  const generation = state.commit_generation;
  state.commit_in_flight = [];
  if (outcome === "fenced") {
    // Our partitions moved: what we still hold of that generation belongs to another router
    // now, or comes again once the rebalance restarts fetching at the committed offsets.
    // Only if no newer generation's records arrived meanwhile (a pipelined poll may already
    // have brought them; dropping those would lose them: the simulator found it, seed 2).
    out.push({ type: "observed", what: "commit_fenced" });
    if (generation === state.generation) newGeneration(state, generation + 1);
    return;
  }
  if (generation !== state.generation) return;
  for (const { partition, offset } of carried) {
    const p = state.partitions.get(partition);
    if (p !== undefined && (p.committed === null || offset > p.committed)) p.committed = offset;
  }
}
