/**
 * The router host: runs the router core against the ports. It joins the consumer group,
 * carries out the core's effects and feeds their outcomes back; every decision is the
 * core's. The simulator runs this same code with simulated ports (see timers.ts for the
 * rules that makes possible).
 */
import type { Clock } from "../../core/ports/clock.js";
import type { Directory } from "../../core/ports/directory.js";
import type { GatewayLink } from "../../core/ports/gateway-link.js";
import type { Log, LogConsumer } from "../../core/ports/log.js";
import type { MessageStore } from "../../core/ports/message-store.js";
import type { PendingStore } from "../../core/ports/pending-store.js";
import type { Push } from "../../core/ports/push.js";
import type { SessionStore } from "../../core/ports/session-store.js";
import type { SessionEntry } from "../../core/model.js";
import type { ReceiptStatus } from "../../core/protocol/frames.js";
import {
  routerInit,
  routerStepFor,
  type RouterCall,
  type RouterCallResult,
  type RouterConfig,
  type RouterEffect,
  type RouterInput,
  type RouterObservation,
  type RouterState,
} from "../../core/router/index.js";
import { all, chain, fromPromise, map, ofValue, within, type Task } from "./task.js";
import type { Timers } from "./timers.js";

export type RouterPorts = {
  readonly log: Log;
  readonly messages: MessageStore;
  readonly pending: PendingStore;
  readonly directory: Directory;
  readonly sessions: SessionStore;
  readonly link: GatewayLink;
  readonly push: Push;
  readonly clock: Clock;
  readonly timers: Timers;
  /**
   * The machine-number lease (lease-host.ts). When given, a claim, the moment a new message
   * ID leaves this process, runs only while the lease on `config.machine` is live; otherwise
   * it fails (and is retried), so no ID is issued without a lease. The simulator passes none.
   */
  readonly lease?: { machine(): number | null };
};

export type RouterHostConfig = RouterConfig & {
  readonly group: string;
  readonly member_id: string;
  /** A call that takes longer is treated as failed (it may have applied; it is retried). */
  readonly call_timeout_ms: number;
  /** How long one poll waits for records. */
  readonly poll_wait_ms: number;
};

export type RouterHostEvents = {
  observed?(what: RouterObservation): void;
  /** A delivery or push that failed: best effort, the pending store still has the message. */
  delivery_failed?(gateway_id: string, reason: string): void;
  /** Every effect, before it runs (metrics, the simulator's crash points and trace). */
  effect?(effect: RouterEffect): void;
  /** A call finished (ok or failed) after `ms` of wall time on the host's clock (metrics). */
  call_done?(call: RouterCall["type"], ms: number, ok: boolean): void;
  /** Records handed to the core by a poll. */
  polled?(records: readonly import("../../core/model.js").ConsumedRecord[]): void;
};

export class RouterHost {
  private state: RouterState;
  /**
   * Messages this host persisted, by conversation and ID, newest last (at most
   * limits.routerMessageCacheMax): an ack's load_message is answered from here. A message is
   * immutable once stored (a redelivery rewrites the same row), and an entry is only added
   * after its persist succeeded, so the answer is what the store would have given.
   */
  private readonly persisted = new Map<string, import("../../core/model.js").StoredMessage>();
  private consumer: LogConsumer | null = null;
  private stopped = false;

  constructor(
    private readonly ports: RouterPorts,
    private readonly config: RouterHostConfig,
    private readonly events: RouterHostEvents = {},
  ) {
    this.state = routerInit(config);
  }

  /**
   * Joins the consumer group and starts consuming. A join that fails (the log is down) is
   * retried with backoff until it succeeds or the host stops; `done` is called once joined,
   * and `retrying` on each failure. (The simulator found a restarted router that tried once
   * during a broker outage and then never consumed again.)
   */
  start(done: (error: string | null) => void = () => undefined, retrying: (why: string) => void = () => undefined, attempt = 0): void {
    if (this.stopped) return;
    const { ports } = this;
    // A join that answers after its deadline made a live consumer anyway: it must be closed,
    // or it keeps its partitions (kafkajs heartbeats for it) with nobody polling them. A
    // real-cluster chaos run (broker restart) found six partitions stalled that way.
    const release = (consumer: LogConsumer): void => fromPromise(() => consumer.close())(() => undefined, () => undefined);
    within(fromPromise(() => ports.log.consumer(this.config.group, this.config.member_id)), ports.timers, ports.clock, this.config.call_timeout_ms, release)(
      (consumer) => {
        if (this.stopped) {
          fromPromise(() => consumer.close())(() => undefined, () => undefined);
          return;
        }
        this.consumer = consumer;
        this.feed({ type: "records_polled", records: [], now_ms: ports.clock.now() });
        done(null);
      },
      (why) => {
        retrying(why);
        const delay_ms = Math.min(5_000, 100 * 2 ** Math.min(attempt, 10));
        ports.timers.at(ports.clock.now() + delay_ms, () => this.start(done, retrying, attempt + 1));
      },
    );
  }

  /** Stops consuming and leaves the group; work in flight is abandoned (it is redelivered). */
  stop(done: () => void = () => undefined): void {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer === null) {
      done();
      return;
    }
    fromPromise(() => consumer.close())(done, () => done());
  }

  get routerState(): RouterState {
    return this.state;
  }

  private feed(input: RouterInput): void {
    if (this.stopped) return;
    // The correct step unless a simulator test planted a bug (core/router/planted.ts).
    const effects = routerStepFor(this.config.variant)(this.state, input);
    for (const effect of effects) this.run(effect);
  }

  private run(effect: RouterEffect): void {
    this.events.effect?.(effect);
    const { ports } = this;
    switch (effect.type) {
      case "call": {
        const task = within(this.execute(effect.call), ports.timers, ports.clock, this.config.call_timeout_ms);
        const started_ms = ports.clock.now();
        task(
          (result) => {
            this.events.call_done?.(effect.call.type, ports.clock.now() - started_ms, true);
            this.feed({ type: "effect_completed", job: effect.job, result, now_ms: ports.clock.now() });
          },
          (reason) => {
            this.events.call_done?.(effect.call.type, ports.clock.now() - started_ms, false);
            this.feed({ type: "effect_failed", job: effect.job, reason, now_ms: ports.clock.now() });
          },
        );
        return;
      }
      case "deliver":
        fromPromise(() => ports.link.deliver(effect.gateway_id, effect.deliveries))(
          () => undefined,
          (why) => this.events.delivery_failed?.(effect.gateway_id, why),
        );
        return;
      case "push":
        chain(
          fromPromise(() => ports.directory.pushTargets(effect.user_id)),
          // The newest few only: registrations are capped at the API, and this holds for rows from before the cap.
          (targets) => all(targets.slice(-this.config.limits.pushTargetsPerUserMax).map((t) => fromPromise(() => ports.push.notify(t, effect.notification)))),
        )(
          () => undefined,
          (why) => this.events.delivery_failed?.(`push:${effect.user_id}`, why),
        );
        return;
      case "remove_pending":
        for (const e of effect.entries) {
          fromPromise(() => ports.pending.remove(e.user_id, e.device_id, e.conversation_id, e.message_id))(() => undefined, () => undefined);
        }
        return;
      case "poll": {
        const consumer = this.consumer;
        if (consumer === null) return;
        const take = (records: readonly import("../../core/model.js").ConsumedRecord[]): void => {
          this.events.polled?.(records);
          this.feed({ type: "records_polled", records, now_ms: ports.clock.now() });
        };
        // A poll that never answers (a lost request or response) must not stall the router:
        // past its deadline the router polls again. But one that answers late has taken its
        // records from the consumer (LogKafka's buffer), and the polls after it continue past
        // them: dropping them would skip records, and later commits would pass over them.
        // So they are handled anyway, in the order the polls answered, which is offset order
        // (a poll takes what the consumer holds when it answers); a repeat is harmless.
        within(fromPromise(() => consumer.poll(effect.max_records, this.config.poll_wait_ms)), ports.timers, ports.clock, this.config.poll_wait_ms + this.config.call_timeout_ms, (records) => {
          if (records.length > 0 && this.consumer === consumer) take(records);
        })(
          take,
          // A failed poll is retried after a pause, as an empty batch.
          () =>
            ports.timers.at(ports.clock.now() + this.config.poll_wait_ms, () =>
              this.feed({ type: "records_polled", records: [], now_ms: ports.clock.now() }),
            ),
        );
        return;
      }
      case "set_timer":
        ports.timers.at(effect.at_ms, () => this.feed({ type: "timer_fired", now_ms: ports.clock.now() }));
        return;
      case "observed":
        this.events.observed?.(effect.what);
        return;
      default: {
        const never: never = effect;
        throw new Error(`router host: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private leaseLive(): boolean {
    return this.ports.lease === undefined || this.ports.lease.machine() === this.config.machine;
  }

  private remember(message: import("../../core/model.js").StoredMessage): void {
    const key = `${message.conversation_id}\u0000${message.message_id}`;
    this.persisted.delete(key);
    this.persisted.set(key, message);
    if (this.persisted.size > this.config.limits.routerMessageCacheMax) {
      const oldest = this.persisted.keys().next();
      if (!oldest.done) this.persisted.delete(oldest.value);
    }
  }

  /** Carries out one call of the core against the ports. */
  private execute(call: RouterCall): Task<RouterCallResult> {
    const { ports } = this;
    switch (call.type) {
      case "load_floor":
        // The greatest ID below the send's own: greater ones a stale router may have written
        // already belong to later records (core/router/ordering.ts).
        return map(fromPromise(() => ports.messages.history(call.conversation_id, call.below, 1)), (page) => ({
          type: "load_floor",
          last_message_id: page[0]?.message_id ?? null,
        }));
      case "load_chain":
        return map(fromPromise(() => ports.messages.idCheckpoint(call.partition, call.offset)), (checkpoint) => ({ type: "load_chain", checkpoint }));
      case "load_audience": {
        const query = call.query;
        if (query.kind === "direct") {
          // Both users' existence and devices at once (one round trip where the directory
          // coalesces them); the devices of a missing user are not used.
          const devices_max = this.config.limits.devicesPerUserMax;
          return map(
            all<unknown>([
              fromPromise(() => ports.directory.missingUsers(query.user_ids)),
              ...query.user_ids.map((u) => fromPromise(() => ports.directory.devices(u))),
            ]),
            ([missing, ...lists]): RouterCallResult => {
              if ((missing as string[]).length > 0) return { type: "load_audience", members: null, devices: {} };
              const devices: Record<string, readonly string[]> = {};
              query.user_ids.forEach((u, i) => (devices[u] = (lists[i] as string[]).slice(-devices_max)));
              return { type: "load_audience", members: [...query.user_ids], devices };
            },
          );
        }
        if (query.kind === "users") {
          // A redelivered group message's recorded audience (core/router/step.ts, rule 5).
          const devices_max = this.config.limits.devicesPerUserMax;
          return map(all(query.user_ids.map((u) => map(fromPromise(() => ports.directory.devices(u)), (d) => [u, d.slice(-devices_max)] as const))), (pairs) => ({
            type: "load_audience" as const,
            members: [...query.user_ids],
            devices: Object.fromEntries(pairs),
          }));
        }
        const members: Task<string[] | null> = chain(fromPromise(() => ports.directory.group(query.group_id)), (group) =>
          group === null ? ofValue(null) : fromPromise(() => ports.directory.members(query.group_id)),
        );
        return chain(members, (list) =>
          // A user's newest devicesPerUserMax devices only; older ones are retired (limits.ts).
          map(all((list ?? []).map((u) => map(fromPromise(() => ports.directory.devices(u)), (d) => [u, d.slice(-this.config.limits.devicesPerUserMax)] as const))), (pairs) => ({
            type: "load_audience" as const,
            members: list,
            devices: Object.fromEntries(pairs),
          })),
        );
      }
      case "prepare_send": {
        // The last step before a record becomes a message: gated by the lease like consuming
        // is (a router whose lease lapsed is being replaced), though the ID no longer needs it.
        if (!this.leaseLive()) return (_ok, fail) => fail(`no live lease on machine ${this.config.machine}`);
        const below = call.floor_below;
        return map(
          all<unknown>([
            this.execute({ type: "load_audience", query: call.query }),
            fromPromise(() => ports.messages.findSendClaim(call.sender_id, call.conversation_id, call.client_msg_id)),
            below === null ? ofValue(null) : this.execute({ type: "load_floor", conversation_id: call.conversation_id, below }),
          ]),
          ([audience, found, floor]): RouterCallResult => {
            const a = audience as Extract<RouterCallResult, { type: "load_audience" }>;
            const f = floor as Extract<RouterCallResult, { type: "load_floor" }> | null;
            return {
              type: "prepare_send",
              members: a.members,
              devices: a.devices,
              found: found as import("../../core/model.js").SendClaim | null,
              floor: f === null ? null : { last_message_id: f.last_message_id },
            };
          },
        );
      }
      case "claim_cached": {
        if (!this.leaseLive()) return (_ok, fail) => fail(`no live lease on machine ${this.config.machine}`);
        const key = `dedup:${call.claim.sender_id}:${call.claim.client_msg_id}`;
        return chain(fromPromise(() => ports.sessions.cacheGet(key)), (cached) =>
          cached !== null
            ? ofValue<RouterCallResult>({ type: "claim", winner: JSON.parse(cached) as import("../../core/model.js").DedupClaim })
            : map(fromPromise(() => ports.sessions.cacheSet(key, JSON.stringify(call.claim), call.ttl_ms)), (): RouterCallResult => ({ type: "claim", winner: call.claim })),
        );
      }
      case "record_refusal":
        // A group send's refusal, final for its key (core/router/step.ts, rule 5): gated by the
        // lease like prepare_send, the read it follows.
        if (!this.leaseLive()) return (_ok, fail) => fail(`no live lease on machine ${this.config.machine}`);
        return map(fromPromise(() => ports.messages.putSendClaim(call.claim)), () => ({ type: "record_refusal" as const }));
      case "persist":
        // Message, pending entries and inboxes are written concurrently: all of them are done
        // before the core looks up sessions to deliver (core/router/step.ts, rule 2), which is
        // the only order the replay seam needs. A crash between them leaves the record
        // uncommitted, so it is handled again and the keyed puts repeat. On one SQLite file
        // the three land in one group commit, one durable step instead of three in sequence.
        if (this.config.variant === "persist_without_waiting") {
          // Broken on purpose: the rest is fired and forgotten.
          fromPromise(() => ports.pending.put(call.pending))(() => undefined, () => undefined);
          for (const entry of call.inbox) fromPromise(() => ports.messages.touchInbox(entry))(() => undefined, () => undefined);
          return map(
            all<unknown>([
              fromPromise(() => ports.messages.putMessage(call.message)),
              ...(call.claim === null ? [] : [fromPromise(() => ports.messages.putSendClaim(call.claim!))]),
            ]),
            () => ({ type: "persist" as const }),
          );
        }
        return map(
          all<unknown>([
            fromPromise(() => ports.messages.putMessage(call.message)),
            ...(call.claim === null ? [] : [fromPromise(() => ports.messages.putSendClaim(call.claim!))]),
            fromPromise(() => ports.pending.put(call.pending)),
            ...call.inbox.map((entry) => fromPromise(() => ports.messages.touchInbox(entry))),
            // The (media, conversation) link lets every member fetch the media (docs/API.md).
            ...(call.message.type === "text" ? [] : [fromPromise(() => ports.messages.linkMedia(call.message.content, call.message.conversation_id))]),
          ]),
          () => {
            this.remember(call.message);
            return { type: "persist" as const };
          },
        );
      case "locate":
        return map(fromPromise(() => ports.sessions.lookup(call.user_ids)), (found) => {
          const sessions: Record<string, SessionEntry[]> = {};
          for (const [user, entries] of found) sessions[user] = entries;
          return { type: "locate" as const, sessions };
        });
      case "load_message": {
        const known = this.persisted.get(`${call.conversation_id}\u0000${call.message_id}`);
        // Answered from memory, but never synchronously: a call that completed inside the
        // effect that made it would feed its outcome while the step that made it still runs
        // its effects (the simulator found a pending entry never removed that way, seed
        // 83890). A timer at the current time completes it as its own event.
        if (known !== undefined) return (ok) => void this.ports.timers.at(this.ports.clock.now(), () => ok({ type: "load_message", message: known }));
        return map(fromPromise(() => ports.messages.getMessage(call.conversation_id, call.message_id)), (message) => ({ type: "load_message", message }));
      }
      case "check_member":
        return map(fromPromise(() => ports.directory.isMember(call.group_id, call.user_id)), (is_member) => ({ type: "check_member", is_member }));
      case "apply_ack": {
        // Concurrent, like persist: each write is idempotent (a two-phase pending removal,
        // receipts that merge by max, a read mark that only rises), and the ack record stays
        // uncommitted until all three are done, so a failure or crash repeats them all.
        const r = call.pending_remove;
        const receipt = call.receipt;
        const read = call.mark_read;
        return map(
          all<unknown>([
            fromPromise(() => ports.pending.remove(r.user_id, r.device_id, r.conversation_id, r.message_id)),
            receipt === null ? ofValue(null) : fromPromise(() => ports.messages.advanceReceipt(receipt.message_id, receipt.user_id, receipt.status)),
            read === null ? ofValue(undefined) : fromPromise(() => ports.messages.markRead(read.user_id, read.conversation_id, read.message_id)),
          ]),
          ([, receipt_status]) => ({ type: "apply_ack" as const, receipt_status: receipt_status as ReceiptStatus | null }),
        );
      }
      case "commit": {
        const consumer = this.consumer;
        if (consumer === null) return (_ok, fail) => fail("not consuming");
        // Checkpoints first: a committed offset must always have its checkpoint (ordering.ts).
        const commit = fromPromise(() => consumer.commit(call.offsets, call.generation));
        const checked = call.checkpoints.length === 0 ? commit : chain(fromPromise(() => ports.messages.putIdCheckpoints(call.checkpoints)), () => commit);
        return map(checked, (outcome) => ({ type: "commit", outcome }));
      }
      default: {
        const never: never = call;
        throw new Error(`router host: unknown call ${JSON.stringify(never)}`);
      }
    }
  }
}
