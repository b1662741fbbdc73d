/**
 * One simulated run from a seed: build the world, run the fault phase, heal, wait for
 * quiescence, then hand the clients' history to the invariant checkers. The result carries
 * a trace hash (the same seed must always give the same hash) and the coverage of faults
 * and recovery paths that actually fired.
 */
import type { History, Violation } from "../invariants/history.js";
import { judgeAll, type Verdict } from "../invariants/index.js";
import { drawFaults, REGION_FAULT_CLASSES, type FaultClass } from "./faults.js";
import { drawRegions } from "./regions.js";
import { Kernel } from "./kernel.js";
import type { SimOptions } from "./options.js";
import { RngTree } from "./random.js";
import { scheduleFaults, scheduleWorkload } from "./schedule.js";
import { World } from "./world.js";

export type SimSummary = {
  readonly seed: number;
  readonly events: number;
  /** Sends invoked, and how many of them ended `ok`. */
  readonly messages: number;
  readonly messages_ok: number;
  /** new_message frames that reached devices (repeats included). */
  readonly delivered: number;
  readonly displays: number;
  readonly faults_enabled: readonly FaultClass[];
  readonly faults_fired: Readonly<Record<string, number>>;
  readonly recoveries: Readonly<Record<string, number>>;
  readonly workloads: Readonly<Record<string, number>>;
  readonly invariants_checked: number;
  readonly violations: number;
  readonly quiescent: boolean;
  readonly trace_hash: string;
  readonly virtual_ms: number;
  /** How many regions the seed drew (sim/regions.ts). */
  readonly regions: number;
};

export type SimResult = {
  readonly summary: SimSummary;
  readonly history: History;
  readonly violations: readonly Violation[];
  /** What each checker judged (the same counts the real-cluster runs print). */
  readonly verdicts: readonly Verdict[];
  readonly trace: readonly string[];
  /** The world at the end, for tests and debugging (not part of the summary). */
  readonly world: World;
};

const QUIESCENCE_CHECK_MS = 1_000;

/** `progress(phase, fraction)` is called now and then, for a progress bar. */
export function runSimulation(options: SimOptions, progress: (phase: "faults" | "healing" | "checking", fraction: number) => void = () => undefined): SimResult {
  const rngs = new RngTree(options.seed);
  const drawn = drawFaults(rngs.stream("faults"), options.only_faults, options.off_faults);
  // Regions from a stream of their own; with one region the region classes cannot fire.
  const layout = drawRegions(rngs.stream("regions"), options.regions_max);
  const faults = layout.count > 1 ? drawn : { ...drawn, enabled: new Set([...drawn.enabled].filter((f) => !(REGION_FAULT_CLASSES as readonly FaultClass[]).includes(f))) };
  const kernel = new Kernel(rngs, faults);
  const world = new World(kernel, options, layout);
  world.build();
  scheduleWorkload(world, rngs.stream("workload"));
  scheduleFaults(world, rngs.stream("schedule"));

  const loop = kernel.loop;
  const step_ms = Math.max(1_000, Math.floor(options.fault_ms / 50));
  while (loop.now < options.fault_ms && loop.executed < options.events_max) {
    loop.run(Math.min(options.fault_ms, loop.now + step_ms), options.events_max);
    progress("faults", loop.now / options.fault_ms);
  }

  // Heal: every fault stops, crashed nodes come back, every device goes online.
  const healed_at = loop.now;
  kernel.heal();
  world.note("heal: faults stop, nodes restart, devices reconnect");
  for (const g of world.gateways) {
    g.node.paused_until = 0;
    if (!g.node.alive) world.restartGateway(g);
  }
  for (const r of world.routers) if (!r.node.alive) world.restartRouter(r);
  for (let region = 0; region < world.layout.count; region++) world.restoreRegion(region);
  for (const d of world.devices) {
    d.online = true;
    if (d.core.phase === "waiting") d.feed({ type: "timer_fired", now_ms: d.node.now() + 1e9, random: 0 });
  }

  const deadline = healed_at + options.heal_deadline_ms;
  let quiescent_at: number | null = null;
  while (loop.now < deadline && loop.executed < options.events_max) {
    loop.run(loop.now + QUIESCENCE_CHECK_MS, options.events_max);
    progress("healing", (loop.now - healed_at) / options.heal_deadline_ms);
    if (world.quiescent()) {
      quiescent_at = loop.now;
      break;
    }
  }
  const presence_bound_ms = world.limits.presenceTtlMs + world.limits.heartbeatIntervalMs + 1_000;
  if (quiescent_at !== null) {
    // Let presence converge for one bound, then confirm nothing moved.
    loop.run(loop.now + presence_bound_ms, options.events_max);
    quiescent_at = world.quiescent() ? loop.now : null;
  }
  world.note(quiescent_at === null ? "no quiescence before the deadline" : `quiescent at ${quiescent_at} ms`);

  progress("checking", 1);
  const history = collectHistory(world, healed_at, quiescent_at, presence_bound_ms);
  const { violations, verdicts } = judgeAll(history);
  const sends = history.sends;
  const summary: SimSummary = {
    seed: options.seed,
    events: loop.executed,
    messages: sends.length,
    messages_ok: sends.filter((s) => s.outcome === "ok").length,
    delivered: world.deliveredFrames,
    displays: history.displays.length,
    faults_enabled: [...faults.enabled],
    faults_fired: Object.fromEntries(kernel.coverage.faults),
    recoveries: Object.fromEntries(kernel.coverage.recoveries),
    workloads: Object.fromEntries(kernel.coverage.workloads),
    invariants_checked: 11,
    violations: violations.length,
    quiescent: quiescent_at !== null,
    trace_hash: traceHash(history, loop.executed),
    virtual_ms: loop.now,
    regions: layout.count,
  };
  return { summary, history, violations, verdicts, trace: world.trace, world };
}

function collectHistory(world: World, healed_at: number, quiescent_at: number | null, presence_bound_ms: number): History {
  const memberships: { conversation_id: string; user_id: string; joined_at: number | null; left_at: number | null }[] = [];
  for (const g of world.groups) {
    // Each user's windows in the group: from the start if an initial member, then each
    // change in virtual-time order closes or opens one.
    const open = new Map<string, number | null>(g.initial.map((u) => [u, null]));
    for (const c of world.membership_changes) {
      if (c.group_id !== g.group_id) continue;
      if (c.kind === "join") open.set(c.user_id, c.at);
      else if (open.has(c.user_id)) {
        memberships.push({ conversation_id: `g.${g.group_id}`, user_id: c.user_id, joined_at: open.get(c.user_id)!, left_at: c.at });
        open.delete(c.user_id);
      }
    }
    for (const [user_id, joined_at] of open) memberships.push({ conversation_id: `g.${g.group_id}`, user_id, joined_at, left_at: null });
  }
  // Direct chats: both users of every direct conversation that was used (its ID names them).
  const direct = new Set<string>();
  for (const d of world.devices) {
    for (const s of d.sends) if (s.conversation_id.startsWith("d.")) direct.add(s.conversation_id);
    for (const r of d.received) if (r.kind === "typing" && r.conversation_id.startsWith("d.")) direct.add(r.conversation_id);
  }
  for (const c of direct) for (const user_id of c.split(".").slice(1)) memberships.push({ conversation_id: c, user_id, joined_at: null, left_at: null });
  const history: Record<string, string[]> = {};
  for (const [conversation_id, ids] of world.messages.ids) history[conversation_id] = [...ids];
  return {
    devices: world.devices.map((d) => d.ref),
    memberships,
    sends: world.devices.flatMap((d) => d.sends),
    displays: world.devices.flatMap((d) => d.displays),
    receipts: world.devices.flatMap((d) => d.receipts),
    acks: world.devices.flatMap((d) => d.acks),
    rate_refusals: world.devices.flatMap((d) => d.rate_refusals),
    wire_receipts: world.devices.flatMap((d) => d.wire_receipts),
    pushes: world.pushes,
    received: world.devices.flatMap((d) => d.received),
    limit_refusals: world.devices.flatMap((d) => d.limit_refusals),
    final: {
      quiescent: quiescent_at !== null,
      quiescent_at,
      healed_at,
      history,
      pending: world.pendingEntries().map((p) => ({ device: { user_id: p.user_id, device_id: p.device_id }, message_id: p.message_id })),
      connected: world.devices.filter((d) => d.connected).map((d) => d.ref),
      presence_watches: world.devices.flatMap((d) => [...d.watching].map((user_id) => ({ device: d.ref, user_id }))),
      ...(quiescent_at === null ? { stuck: world.stuck() } : {}),
    },
    delivery_bound_ms: world.limits.pendingResyncIntervalMs + 2 * world.limits.heartbeatIntervalMs + 5_000,
    presence_bound_ms,
  };
}

/** FNV-1a over the observable history and the event count: equal seeds, equal hashes. */
function traceHash(history: History, events: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ events;
  const feed = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
  };
  feed(String(events));
  for (const s of history.sends) feed(`${s.client_msg_id}${s.outcome}${s.message_id}${s.invoked_at}${s.completed_at}`);
  for (const d of history.displays) feed(`${d.device.device_id}${d.message_id}${d.at}`);
  for (const r of history.receipts) feed(`${r.device.device_id}${r.message_id}${r.status}${r.at}`);
  return (h1 >>> 0).toString(16).padStart(8, "0") + (h2 >>> 0).toString(16).padStart(8, "0");
}

export type { Violation };
