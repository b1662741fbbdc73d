/**
 * What happens when, drawn from the seed: the workload (sends, reads, typing, presence
 * subscriptions, devices going offline) and the scheduled faults (crashes, pauses, drains,
 * partitions, outages, rebalances, clock steps, reconnect storms). Per-call faults (lost or
 * failed calls, timeouts that applied) fire inside the kernel and the stores instead.
 */
import type { ClientTarget } from "../core/client/index.js";
import { frameAllowance } from "../core/gateway/index.js";
import type { Kernel } from "./kernel.js";
import type { Rng } from "./random.js";
import { CALL_TIMEOUT_MS, type World } from "./world.js";

export function scheduleWorkload(world: World, rng: Rng): void {
  const { kernel, options } = world;
  const loop = kernel.loop;
  for (const d of world.devices) loop.after(rng.int(500), () => d.start());

  // Media: some sends are images, uploaded first; a few name a media_id the sender never
  // uploaded (the gateway must refuse them). A stream of its own keeps the base draws put.
  const media = kernel.rngs.stream("workload:media");
  for (let i = 0; i < options.messages; i++) {
    const at = 1_000 + rng.int(Math.max(1, options.fault_ms - 1_000));
    const device = rng.pick(world.devices);
    const own = world.groups.filter((g) => g.members.includes(device.user_id));
    let target: ClientTarget;
    if (own.length > 0 && rng.chance(0.35)) target = { kind: "group", group_id: rng.pick(own).group_id };
    else {
      let peer = rng.pick(world.users).user_id;
      if (peer === device.user_id) peer = world.users[(world.users.findIndex((u) => u.user_id === peer) + 1) % world.users.length]!.user_id;
      target = { kind: "direct", to: peer };
    }
    const kind = media.float();
    const media_id = kind < 0.1 ? `media-${i}-${device.user_id}` : kind < 0.12 ? `stolen-${i}` : null;
    if (media_id !== null && kind < 0.1) world.media.set(media_id, device.user_id);
    if (media_id !== null && kind >= 0.1) world.media.set(media_id, world.users[0]!.user_id === device.user_id ? "nobody" : world.users[0]!.user_id);
    const content = media_id ?? `m${i} from ${device.device_id}`;
    loop.schedule(at, () => {
      if (media_id === null) device.send(target, content);
      else device.send(target, content, "image");
      world.note(`${device.device_id} sends "${content}" to ${target.kind === "direct" ? target.to : target.group_id}`);
      if (kernel.fires("client_offline_mid_send", 0.1)) goOffline(world, device, rng, 500 + rng.int(8_000));
    });
  }

  // Reading, typing and presence: what a user on a screen does.
  for (const d of world.devices) {
    for (let t = 2_000 + rng.int(4_000); t < options.fault_ms; t += 3_000 + rng.int(6_000)) loop.schedule(t, () => d.readAll());
    loop.schedule(1_500 + rng.int(2_000), () => {
      const watch = [...new Set(Array.from({ length: 1 + rng.int(3) }, () => rng.pick(world.users).user_id))];
      for (const u of watch) d.watching.add(u);
      d.raw({ event: "subscribe_presence", data: { user_ids: watch } });
    });
    if (rng.chance(0.3)) {
      loop.schedule(rng.int(options.fault_ms), () => {
        const peer = rng.pick(world.users).user_id;
        if (peer !== d.user_id) d.raw({ event: "typing", data: { to: peer } });
      });
    }
    // Group typing too (invariant 9 then checks it reaches members only); now and then a
    // burst, as from a keyboard, which the gateway's throttle must thin out.
    const groups = world.groups.filter((g) => g.members.includes(d.user_id));
    if (groups.length > 0 && rng.chance(0.3)) {
      const group_id = rng.pick(groups).group_id;
      const start = rng.int(options.fault_ms);
      const keystrokes = 1 + rng.int(5);
      for (let k = 0; k < keystrokes; k++) loop.schedule(start + k * 200, () => d.raw({ event: "typing", data: { group_id } }));
    }
    // Ordinary churn: some devices drop off for a while.
    if (rng.chance(0.25)) loop.schedule(rng.int(options.fault_ms), () => goOffline(world, d, rng, 1_000 + rng.int(6_000)));
  }
  for (const d of world.devices) {
    if (kernel.faults.enabled.has("client_ack_late_or_twice") && rng.chance(0.5)) d.lateAcks = true;
  }
  // Drawn from a stream of its own, so the base workload of every seed stays what it was.
  if (options.backlog) scheduleBacklog(world, kernel.rngs.stream("workload:backlog"));
  if (options.membership) scheduleMembership(world, kernel.rngs.stream("workload:membership"));
  if (options.contract_burst) scheduleContractBurst(world, kernel.rngs.stream("workload:contract_burst"));
  if (options.presence_cap) schedulePresenceCap(world, kernel.rngs.stream("workload:presence"));
}

/**
 * Issue 14: a client sends the contract's whole burst, then keeps on just under the rate,
 * while its gateway is paused (busy): the burst is read late, and what the client sent
 * meanwhile, within its allowance by its own clock, is read right behind it. Invariant 11
 * judges the refusals; a gateway that refills its bucket by when it reads frames fails it.
 */
function scheduleContractBurst(world: World, rng: Rng): void {
  const { kernel, options, limits } = world;
  if (world.users.length < 2 || !rng.chance(0.35)) return;
  const at = 2_000 + rng.int(Math.max(1, options.fault_ms - 8_000));
  const pause_ms = 1_000 + rng.int(3_000);
  const device = rng.pick(world.devices);
  let peer = rng.pick(world.users).user_id;
  if (peer === device.user_id) peer = world.users[(world.users.findIndex((u) => u.user_id === peer) + 1) % world.users.length]!.user_id;
  kernel.loop.schedule(at, () => {
    const socket = device.socket;
    const gateway = socket === null ? undefined : world.gateways.find((g) => g.id === socket.gateway_id);
    if (socket === null || gateway === undefined || !device.connected || !gateway.node.alive || !socket.within_contract) return;
    gateway.node.paused_until = Math.max(gateway.node.paused_until, kernel.loop.now + pause_ms);
    world.workload("contract_burst_read_late");
    world.note(`${device.device_id} sends a contract burst while gateway ${gateway.id} pauses for ${pause_ms} ms`);
    // A few frames short of the burst and 80% of the rate: room for what the device sends
    // on its own meanwhile (sends, heartbeats, subscriptions), so it stays within the contract.
    const typing = { event: "typing" as const, data: { to: peer } };
    for (let i = 0; i < Math.max(1, limits.connectionFramesBurst - 4); i++) device.raw(typing);
    const spacing_ms = Math.ceil(1_000 / (limits.connectionFramesPerSecond * 0.8));
    for (let t = spacing_ms; t <= pause_ms + 2_000; t += spacing_ms) {
      kernel.loop.after(t, () => {
        if (device.socket === socket) device.raw(typing);
      });
    }
  });
}

/**
 * Watch lists at the presence cap: a few devices fill theirs up to exactly the number of
 * users a connection may watch (which must be accepted: invariant 8 then expects every one
 * of them answered), and some then ask for one more (which must be refused; that user is
 * not added to the list). The base workload stays below the cap, so without this draw the
 * boundary is never reached.
 */
function schedulePresenceCap(world: World, rng: Rng): void {
  const { kernel, options, limits } = world;
  const cap = limits.presenceSubscriptionsPerConnectionMax;
  if (world.users.length <= cap || !rng.chance(0.4)) return;
  const devices = 1 + rng.int(3);
  for (let i = 0; i < devices; i++) {
    const d = rng.pick(world.devices);
    const at = 4_000 + rng.int(Math.max(1, options.fault_ms - 4_000));
    const over_after_ms = rng.chance(0.5) ? 500 + rng.int(3_000) : null;
    const first = rng.int(world.users.length);
    const order = world.users.map((_, k) => world.users[(first + k) % world.users.length]!.user_id);
    kernel.loop.schedule(at, () => {
      for (const u of order) if (d.watching.size < cap) d.watching.add(u);
      d.raw({ event: "subscribe_presence", data: { user_ids: [...d.watching] } });
      world.note(`${d.device_id} watches ${d.watching.size} users, the cap`);
      if (over_after_ms === null) return;
      kernel.loop.after(over_after_ms, () => {
        const extra = order.find((u) => !d.watching.has(u));
        if (extra !== undefined) d.raw({ event: "subscribe_presence", data: { user_ids: [...d.watching, extra] } });
      });
    });
  }
}

/**
 * Group joins and leaves during the fault phase, applied to the directory at once (as the
 * REST API does) and recorded as membership windows for the checkers: a member who left must
 * get nothing ordered after, a joiner everything ordered after, and a send from a leaver is
 * refused. Sends drawn before a change still target the groups their sender was in then.
 */
function scheduleMembership(world: World, rng: Rng): void {
  const { kernel, options } = world;
  if (world.groups.length === 0 || !rng.chance(0.4)) return;
  const changes = 1 + rng.int(4);
  for (let c = 0; c < changes; c++) {
    const g = rng.pick(world.groups);
    const at = 1_000 + rng.int(Math.max(1, options.fault_ms - 2_000));
    const user_id = rng.pick(world.users).user_id;
    const rejoin_after_ms = rng.chance(0.3) ? 1_000 + rng.int(8_000) : null;
    kernel.loop.schedule(at, () => {
      const record = world.directory.groups.get(g.group_id);
      if (record === undefined || record.group.creator_id === user_id) return;
      if (record.members.includes(user_id)) {
        if (record.members.length <= 2) return;
        world.changeMembership(g.group_id, user_id, "leave");
        if (rejoin_after_ms !== null) kernel.loop.after(rejoin_after_ms, () => world.changeMembership(g.group_id, user_id, "join"));
      } else world.changeMembership(g.group_id, user_id, "join");
    });
  }
}

/**
 * A backlog of several pages in one quiet direct conversation: every device of the
 * recipient is offline while one sender writes 2..8 pages' worth, then comes back and has it
 * replayed, paced by its acks. Paging bugs hide below one page; this is where they show.
 */
function scheduleBacklog(world: World, rng: Rng): void {
  const { kernel, options, limits } = world;
  if (world.users.length < 2 || !rng.chance(0.35)) return;
  const page = limits.pendingPageEntriesMax;
  const size = (2 + rng.int(7)) * page + rng.int(page);
  const sender = rng.pick(world.devices);
  let recipient = rng.pick(world.users);
  if (recipient.user_id === sender.user_id) recipient = world.users[(world.users.indexOf(recipient) + 1) % world.users.length]!;
  // Spaced at about the frame rate a client is allowed, so the sender is rarely refused.
  const spacing_ms = Math.ceil(1_000 / limits.connectionFramesPerSecond) + rng.int(50);
  const start = 1_000 + rng.int(Math.max(1, Math.floor(options.fault_ms / 3)));
  const back_at = start + 500 + size * spacing_ms + 2_000 + rng.int(3_000);
  const to = recipient.user_id;
  kernel.loop.schedule(start, () => {
    world.note(`backlog: ${recipient.user_id} goes offline while ${sender.device_id} sends it ${size} messages`);
    for (const d of recipient.devices) {
      d.online = false;
      d.dropConnection();
    }
  });
  kernel.loop.schedule(back_at, () => {
    for (const d of recipient.devices) d.online = true;
  });
  for (let i = 0; i < size; i++) {
    kernel.loop.schedule(start + 500 + i * spacing_ms, () => sender.send({ kind: "direct", to }, `b${i} from ${sender.device_id}`));
  }
}

function goOffline(world: World, device: import("./device.js").SimDevice, rng: Rng, for_ms: number): void {
  if (!device.online) return;
  device.online = false;
  device.dropConnection();
  world.note(`${device.device_id} goes offline for ${for_ms} ms`);
  world.kernel.loop.after(for_ms, () => {
    device.online = true;
  });
  void rng;
}

/** Scheduled faults: each enabled class fires at a few random moments of the fault phase. */
export function scheduleFaults(world: World, rng: Rng): void {
  const { kernel, options } = world;
  const loop = kernel.loop;
  const times = (per_minute: number): number[] => {
    const n = Math.max(1, Math.round((per_minute * options.fault_ms) / 60_000));
    return Array.from({ length: n }, () => 500 + rng.int(Math.max(1, options.fault_ms - 500)));
  };
  const at = (fault: Parameters<Kernel["fires"]>[0], per_minute: number, fn: () => void): void => {
    if (!kernel.faults.enabled.has(fault)) return;
    for (const t of times(per_minute * (0.5 + kernel.faults.rate[fault]))) {
      loop.schedule(t, () => {
        if (kernel.phase !== "fault") return;
        kernel.coverage.fault(fault);
        fn();
      });
    }
  };

  at("gateway_crash", 3, () => world.crashGateway(rng.pick(world.gateways), 500 + rng.int(4_000)));
  at("gateway_pause", 3, () => {
    const g = rng.pick(world.gateways);
    g.node.paused_until = loop.now + 200 + rng.int(3_000);
    world.note(`gateway ${g.id} pauses`);
  });
  at("gateway_drain", 2, () => world.drainGateway(rng.pick(world.gateways)));
  at("router_crash", 3, () => {
    const r = rng.pick(world.routers);
    world.note(`router ${r.member_id} crashes`);
    world.crashRouter(r);
  });
  at("log_rebalance", 3, () => {
    world.note("the consumer group rebalances");
    const stale_ms = kernel.fires("router_stale", 1) ? 500 + rng.int(5_000) : 0;
    for (const log of world.logs) log.rebalance("routers", loop.now, stale_ms);
  });
  at("log_redelivery", 3, () => {
    const r = rng.pick(world.routers);
    world.note(`router ${r.member_id} is redelivered records after its committed offsets`);
    world.logs[r.node.region]!.rewind("routers", r.member_id);
  });
  at("log_outage", 2, () => {
    world.note("the log broker restarts");
    kernel.startOutage("log", loop.now + 500 + rng.int(4_000));
  });
  at("session_key_loss", 2, () => {
    world.note("Redis restarts and loses every key");
    for (const s of world.session_states) s.flush();
  });
  at("session_outage", 2, () => kernel.startOutage("sessions", loop.now + 300 + rng.int(3_000)));
  at("store_outage", 2, () => kernel.startOutage("store", loop.now + 300 + rng.int(3_000)));
  const nodes = (): string[] => [...world.gateways.map((g) => g.id), ...world.routers.map((r) => r.node.name)];
  const services = ["log", "store", "sessions", "presence", "directory"];
  at("net_partition", 3, () => {
    const a = rng.pick(nodes());
    const b = rng.chance(0.5) ? rng.pick(services) : rng.pick(nodes());
    const until = loop.now + 500 + rng.int(6_000);
    kernel.cutLink(a, b, until);
    kernel.cutLink(b, a, until);
    world.note(`network partition between ${a} and ${b}`);
  });
  at("net_partition_one_way", 3, () => {
    const a = rng.pick(nodes());
    const b = rng.chance(0.5) ? rng.pick(services) : rng.pick(nodes());
    kernel.cutLink(a, b, loop.now + 500 + rng.int(6_000));
    world.note(`one-way partition ${a} -> ${b}`);
  });
  at("clock_step", 3, () => {
    const n = rng.pick([...world.gateways.map((g) => g.node), ...world.routers.map((r) => r.node)]);
    n.clock_offset_ms += rng.between(-10_000, 10_000);
    world.note(`clock of ${n.name} steps to offset ${n.clock_offset_ms} ms`);
  });
  at("client_reconnect_storm", 2, () => {
    world.note("reconnect storm: every device drops its connection");
    for (const d of world.devices) d.dropConnection();
  });
  at("client_retry", 6, () => {
    // A client resends a send it already got `sent` for (a retry after an unnoticed answer).
    const d = rng.pick(world.devices);
    const done = d.sends.filter((s) => s.outcome === "ok");
    if (done.length === 0) return;
    const s = rng.pick(done);
    const peer = s.conversation_id.startsWith("g.") ? null : s.conversation_id.split(".").slice(1).find((u) => u !== d.user_id) ?? null;
    if (peer === null) d.raw({ event: "send_group_message", data: { group_id: s.conversation_id.slice(2), content: s.content, type: "text", client_msg_id: s.client_msg_id } });
    else d.raw({ event: "send_message", data: { to: peer, content: s.content, type: "text", client_msg_id: s.client_msg_id } });
  });

  // Issue 13's classes (their draws come after every older class's, so those stay put).
  const ack_budget_ms = ackRetryBudgetMs(world);
  at("log_outage_long", 1, () => {
    const until = loop.now + ack_budget_ms + 2_000 + rng.int(8_000);
    world.note(`the log broker is down for ${until - loop.now} ms, past an ack's retry budget of ${ack_budget_ms} ms`);
    kernel.startOutage("log", until);
  });
  at("client_frame_burst", 3, () => {
    // Past the bucket, but by fewer refusals than close the connection: the client is told to
    // slow down and stays connected; its acks must still get through.
    const d = rng.pick(world.devices);
    const peer = rng.pick(world.users).user_id;
    if (peer === d.user_id) return;
    // Past what the gateway would take now (the burst, and what its read-lag tolerance adds).
    const connection = d.socket?.connection ?? null;
    const gateway = d.socket === null ? undefined : world.gateways.find((g) => g.id === d.socket!.gateway_id);
    const allowance = connection === null || gateway === undefined ? world.limits.connectionFramesBurst : frameAllowance(connection.coreState, gateway.node.now());
    const n = allowance + 1 + rng.int(Math.floor(world.limits.rateLimitedFramesRunMax / 2));
    world.note(`${d.device_id} bursts ${n} typing frames`);
    for (let i = 0; i < n; i++) d.raw({ event: "typing", data: { to: peer } });
  });

  // Issue 12's region classes, from a stream of their own (every draw above stays put).
  if (world.regional) scheduleRegionFaults(world, kernel.rngs.stream("schedule:regions"));

  // Clocks: skew and drift are properties of a node for the whole run.
  for (const n of [...world.gateways.map((g) => g.node), ...world.routers.map((r) => r.node), ...world.devices.map((d) => d.node)]) {
    if (kernel.faults.enabled.has("clock_skew")) {
      n.clock_offset_ms = rng.between(-5_000, 5_000);
      kernel.coverage.fault("clock_skew");
    }
    if (kernel.faults.enabled.has("clock_drift")) {
      n.drift = (rng.float() - 0.5) * 0.004;
      kernel.coverage.fault("clock_drift");
    }
  }
}

/** The longest a gateway keeps retrying an ack's append: its backoffs plus a call timeout each. */
function ackRetryBudgetMs(world: World): number {
  const { ackAppendAttemptsMax: attempts, ackAppendRetryBaseMs: base, ackAppendRetryMaxMs: cap } = world.limits;
  let total = 0;
  for (let a = 1; a <= attempts; a++) total += Math.min(cap, base * 2 ** a) + CALL_TIMEOUT_MS;
  return total;
}

/**
 * Region faults, in a world of several regions: the WAN between two regions is cut
 * (everything dropped) or slowed by seconds for a while; a whole region is lost (its
 * processes stop, its services answer nothing) and comes back from its durable state.
 */
function scheduleRegionFaults(world: World, rng: Rng): void {
  const { kernel, options } = world;
  const loop = kernel.loop;
  const count = world.layout.count;
  const at = (fault: "region_partition" | "region_loss", per_minute: number, fn: () => void): void => {
    if (!kernel.faults.enabled.has(fault)) return;
    const n = Math.max(1, Math.round((per_minute * (0.5 + kernel.faults.rate[fault]) * options.fault_ms) / 60_000));
    for (let i = 0; i < n; i++) {
      loop.schedule(500 + rng.int(Math.max(1, options.fault_ms - 500)), () => {
        if (kernel.phase !== "fault") return;
        kernel.coverage.fault(fault);
        fn();
      });
    }
  };
  at("region_partition", 3, () => {
    const a = rng.int(count);
    const b = (a + 1 + rng.int(count - 1)) % count;
    const for_ms = 1_000 + rng.int(9_000);
    const mode = rng.chance(0.7) ? "drop" : "delay";
    const delay_ms = 500 + rng.int(3_000);
    kernel.cutRegions(a, b, { until_ms: loop.now + for_ms, mode, delay_ms });
    world.note(`region partition ${a} <-> ${b} for ${for_ms} ms: ${mode === "drop" ? "everything dropped" : `everything delayed ${delay_ms} ms`}`);
  });
  at("region_loss", 1.5, () => world.loseRegion(rng.int(count), 2_000 + rng.int(10_000)));
}
