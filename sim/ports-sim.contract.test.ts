/**
 * The simulator's ports run the same contract suites as the memory, SQLite and production
 * adapters: a bug in the simulated log or stores would be a bug in every verdict the
 * simulator gives, so the ground truth is checked where the other adapters are.
 *
 * How: a fault-free kernel (its heal phase, when no fault fires) and one calling node. Every
 * port call answers a SyncPromise that settles only as the event loop runs, so the harness
 * wraps each port: a call runs the loop, event by event in virtual time, until its promise
 * settles, then hands the suite an ordinary promise. `advance(ms)` runs the loop `ms` virtual
 * milliseconds on (TTLs and presence lapses are virtual time). Nothing here waits on a wall
 * clock, so the suites run in milliseconds.
 */
import type { Delivery, PushTarget } from "../core/model.js";
import { describeDirectoryContract } from "../adapters/contract/directory.contract.js";
import { describeGatewayLinkContract } from "../adapters/contract/gateway-link.contract.js";
import { describePresenceContract } from "../adapters/contract/presence.contract.js";
import { describeLogContract } from "../adapters/contract/log.contract.js";
import { describeMessageStoreContract } from "../adapters/contract/message-store.contract.js";
import { describePendingStoreContract } from "../adapters/contract/pending-store.contract.js";
import { describePushContract } from "../adapters/contract/push.contract.js";
import { describeSessionStoreContract } from "../adapters/contract/session-store.contract.js";
import { drawFaults } from "./faults.js";
import { Kernel, SIM_EPOCH_MS, SimNode } from "./kernel.js";
import { LogConsumerSim, LogSim, LogState } from "./log-sim.js";
import { RngTree } from "./random.js";
import {
  DirectorySim,
  DirectoryState,
  GatewayLinkSim,
  MessageStoreSim,
  MessageStoreState,
  PendingStoreSim,
  PresenceService,
  PresenceSim,
  pendingStateInit,
  PushSim,
  SessionState,
  SessionStoreSim,
} from "./stores-sim.js";
import { SyncPromise } from "./sync-promise.js";

/** The longest virtual time one call may take before the harness calls it lost (never, fault-free). */
const CALL_HORIZON_MS = 3_600_000;
/**
 * The longest fault-free one-way latency (Kernel.latency: 1 + up to 3 ms): once a call has
 * answered, running the loop this much further lets whatever the call set travelling at the
 * service (a presence notice to a listener) arrive too.
 */
const LATENCY_MS_MAX = 4;

type World = { readonly kernel: Kernel; readonly node: SimNode; drive<T extends object>(port: T): T; advance(ms: number): Promise<void> };

function world(): World {
  const kernel = new Kernel(new RngTree(1), drawFaults(new RngTree(1).stream("faults"), new Set(), new Set()));
  kernel.heal();
  const node = new SimNode("contract", kernel);
  const settle = <T>(promise: SyncPromise<T>): Promise<T> => {
    kernel.loop.run(kernel.loop.now + CALL_HORIZON_MS, Number.POSITIVE_INFINITY, () => promise.isSettled);
    if (!promise.isSettled) return Promise.reject(new Error("the simulated call was never answered"));
    kernel.loop.run(kernel.loop.now + LATENCY_MS_MAX, Number.POSITIVE_INFINITY);
    return new Promise<T>((resolve, reject) => void promise.then(resolve, reject));
  };
  const wrap = (value: unknown): unknown => {
    if (value instanceof LogConsumerSim) return drive(value);
    if (typeof value === "function") return (...args: unknown[]) => answer((value as (...a: unknown[]) => unknown)(...args));
    return value;
  };
  const answer = (result: unknown): unknown => (result instanceof SyncPromise ? settle(result).then(wrap) : result);
  const drive = <T extends object>(port: T): T =>
    new Proxy(port, {
      get(target, key) {
        const member = Reflect.get(target, key, target) as unknown;
        if (typeof member !== "function") return member;
        return (...args: unknown[]) => answer((member as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  const advance = async (ms: number): Promise<void> => kernel.loop.run(kernel.loop.now + ms, Number.POSITIVE_INFINITY);
  return { kernel, node, drive, advance };
}

describeLogContract("LogSim", async () => {
  const w = world();
  const log = w.drive(new LogSim(w.kernel, w.node, new LogState(4), () => 0));
  return { log, settle_ms: 2_000, cleanup: () => log.close() };
});

describeMessageStoreContract("MessageStoreSim", async () => {
  const w = world();
  const store = w.drive(new MessageStoreSim(w.kernel, w.node, new MessageStoreState()));
  return { store, cleanup: () => store.close() };
});

describePendingStoreContract("PendingStoreSim", async () => {
  const w = world();
  const store = w.drive(new PendingStoreSim(w.kernel, w.node, pendingStateInit()));
  return { store, cleanup: () => store.close() };
});

describeSessionStoreContract("SessionStoreSim", async () => {
  const w = world();
  const store = w.drive(new SessionStoreSim(w.kernel, w.node, new SessionState()));
  return { store, advance: w.advance, cleanup: () => store.close() };
});

describeDirectoryContract("DirectorySim", async () => {
  const w = world();
  const directory = w.drive(new DirectorySim(w.kernel, w.node, new DirectoryState()));
  return { directory, cleanup: () => directory.close() };
});

describePresenceContract("PresenceSim", async () => {
  const w = world();
  const presence = w.drive(new PresenceSim(w.kernel, w.node, new PresenceService(w.kernel), SIM_EPOCH_MS));
  return { presence, advance: w.advance, cleanup: () => presence.close() };
});

describePushContract("PushSim", async () => {
  const w = world();
  const accepting_target: PushTarget = { platform: "webhook", token: "hook-alice" };
  const rejecting_target: PushTarget = { platform: "fcm", token: "gone" };
  const same = (a: PushTarget, b: PushTarget): boolean => a.platform === b.platform && a.token === b.token;
  const sim = new PushSim(w.kernel, w.node, undefined, (target) => same(target, rejecting_target));
  return {
    push: w.drive(sim),
    accepting_target,
    rejecting_target,
    received: async (target: PushTarget) => sim.sent.filter((s) => same(s.target, target)).map((s) => s.notification),
    cleanup: async () => undefined,
  };
});


describeGatewayLinkContract("GatewayLinkSim", async () => {
  const w = world();
  const gateways = new Map<string, { node: SimNode; receive(d: readonly Delivery[]): void }>();
  const link = w.drive(new GatewayLinkSim(w.kernel, w.node, (id) => gateways.get(id) ?? null, { copy: true }));
  return {
    link,
    serve: async (gateway_id, receive) => {
      const node = new SimNode(gateway_id, w.kernel);
      // A simulated gateway takes a batch synchronously: a throw is its refusal.
      gateways.set(gateway_id, { node, receive: (d) => void receive(d) });
      return async () => {
        node.crash();
        gateways.delete(gateway_id);
      };
    },
    cleanup: async () => undefined,
  };
});
