/**
 * The fault run against the real cluster (`make cluster-up` first; `make cluster-fault`):
 * users spread over both gateways, some with two devices, talk in direct chats and groups
 * while members join and leave, type, mark messages read and watch each other's presence;
 * devices ack at once, late, or drop some acks, blip offline and back, and two go offline
 * for good. Mid-run one gateway and one router are killed with SIGKILL and restarted.
 *
 * After traffic stops the run heals and measures quiescence: every device meant to be online
 * connected, every send answered, no late ack outstanding, and the pending store, read back
 * through the PendingStore adapter (Cassandra's `pending` table), empty for every connected
 * device; then it waits out the presence bound and measures again. The clients' histories,
 * the conversations' histories from the REST API and every device's pending entries read
 * back go to the same invariant checkers the simulator uses, and the run prints what each
 * checker judged. A run that does not quiesce names each pending entry left, its device,
 * and where that device is connected.
 */
import { execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import seedrandom from "seedrandom";
import { cassandraClient, cassandraConfigFromEnv, PendingStoreCassandra } from "../adapters/cassandra/index.js";
import type { CassandraConsistency } from "../adapters/cassandra/cql.js";
import { defaultLimits } from "../core/limits.js";
import type { PendingStore } from "../core/ports/pending-store.js";
import { CHECKERS, formatVerdicts, judgeAll, type Verdict } from "../invariants/index.js";
import type { DeviceRef, History, Membership, Violation } from "../invariants/history.js";
import { signIn, signUp, type Account } from "./testing/api-client.js";
import type { Endpoints } from "./testing/cluster-smoke.js";
import { conversationOf, HistoryDevice, type AckPolicy, type Target } from "./testing/history-device.js";

const DIR = ".cluster";

/**
 * What the run does to the cluster while traffic flows: actions at set times, then traffic
 * stops at `traffic_ms` and the run heals: it waits for quiescence (measured), at most
 * `heal_ms` after the presence bound has passed, before the checkers judge the histories.
 */
export type FaultPlan = {
  readonly traffic_ms: number;
  readonly heal_ms: number;
  readonly actions: readonly { readonly at_ms: number; readonly label: string; run(): void | Promise<void> }[];
  /** Seeds the workload's draws (targets, ack delays, blips); 1 when absent. */
  readonly seed?: number;
};

/** The classic run: kill -9 one gateway and one router at 3 s, restart them at 6 s, traffic for 12 s. */
export function killAndRestart(kill: () => void, restart: () => void): FaultPlan {
  return {
    traffic_ms: 12_000,
    heal_ms: 60_000,
    actions: [
      { at_ms: 3_000, label: "kill -9 a gateway and a router", run: kill },
      { at_ms: 6_000, label: "restart them", run: restart },
    ],
  };
}

export type FaultReport = {
  sends: number;
  ok: number;
  deliveries: number;
  /** From healing to measured quiescence (or to the deadline). */
  healed_ms: number;
  quiescent: boolean;
  violations: Violation[];
  /** What each checker judged, and its violations. */
  verdicts: readonly Verdict[];
  /** Without quiescence: what was left, and where (also in the liveness violation). */
  stuck: readonly string[];
  history: History;
};

/** Reads a device's pending entries back from the store the routers write. */
export type PendingReader = {
  /** Where the entries live, for reports ("Cassandra chat_h13.pending"). */
  readonly where: string;
  list(device: DeviceRef): Promise<{ conversation_id: string; message_id: string; from: string }[]>;
  close(): Promise<void>;
};

const PENDING_PAGE = 500;

/** A PendingReader over any PendingStore adapter: every entry of a device, page by page. */
export function pendingReader(store: PendingStore, where: string, close: () => Promise<void>): PendingReader {
  return {
    where,
    async list(device) {
      const out: { conversation_id: string; message_id: string; from: string }[] = [];
      let after: { conversation_id: string; message_id: string } | null = null;
      for (;;) {
        const page = await store.list(device.user_id, device.device_id, after, PENDING_PAGE);
        for (const e of page) out.push({ conversation_id: e.message.conversation_id, message_id: e.message.message_id, from: e.message.sender_id });
        const last = page[page.length - 1];
        if (page.length < PENDING_PAGE || last === undefined) return out;
        after = { conversation_id: last.message.conversation_id, message_id: last.message.message_id };
      }
    },
    close,
  };
}

/** The cluster's pending table (CASSANDRA_CONTACT_POINTS, CASSANDRA_LOCAL_DC, CASSANDRA_KEYSPACE of `env`). */
export function cassandraPending(env: Readonly<Record<string, string | undefined>>): PendingReader {
  const client = cassandraClient(cassandraConfigFromEnv(env));
  const keyspace = env.CASSANDRA_KEYSPACE ?? "chat";
  const store = new PendingStoreCassandra(client, { keyspace, consistency: (env.CASSANDRA_CONSISTENCY ?? "LOCAL_QUORUM") as CassandraConsistency });
  return pendingReader(store, `Cassandra ${keyspace}.pending`, async () => {
    await store.close();
    await client.shutdown();
  });
}

/** The services' environment (`deploy/services.sh env`) and what `make cluster-up` gave every node (.cluster/nodes.json). */
function clusterStarted(): { common: Record<string, string>; nodes: Record<string, { script: string; env: Record<string, string> }> } {
  const services = Object.fromEntries(
    execFileSync("deploy/services.sh", ["env"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.startsWith("export "))
      .map((l) => l.slice(7).split("="))
      .map(([k, ...v]) => [k!, v.join("=").replace(/^"|"$/g, "")]),
  );
  const started = JSON.parse(readFileSync(`${DIR}/nodes.json`, "utf8")) as { common: Record<string, string>; nodes: Record<string, { script: string; env: Record<string, string> }> };
  return { common: { ...started.common, ...services }, nodes: started.nodes };
}

/** The pending store of the cluster `make cluster-up` started from this checkout. */
export function clusterPending(): PendingReader {
  return cassandraPending(clusterStarted().common);
}

/**
 * The nodes of `make cluster-up` (deploy/cluster.sh), by name: signal them through their
 * pidfiles and start them again with the same ports and environment.
 */
export function clusterNodes() {
  const secret = readFileSync(`${DIR}/secret`, "utf8").trim();
  // The same environment and ports deploy/cluster.sh gave each node (it writes them down).
  const started = clusterStarted();
  const common = { SECRET: secret, ...started.common };
  const roles = started.nodes;
  const pid = (name: string): number => Number(readFileSync(`${DIR}/${name}.pid`, "utf8"));
  const alive = (name: string): boolean => {
    try {
      process.kill(pid(name), 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    signal(name: string, signal: NodeJS.Signals): void {
      process.kill(pid(name), signal);
    },
    /** Resolves once the node's process is gone (bounded: then SIGKILL). */
    async exited(name: string, within_ms = 20_000): Promise<void> {
      const deadline = Date.now() + within_ms;
      while (alive(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (alive(name)) process.kill(pid(name), "SIGKILL");
      while (alive(name)) await new Promise((r) => setTimeout(r, 50));
    },
    restart(name: string): void {
      const role = roles[name];
      if (role === undefined) throw new Error(`no cluster node ${name}`);
      const out = openSync(`${DIR}/${name}.log`, "a");
      const child = spawn(process.execPath, [`dist/nodes/${role.script}.js`], { env: { ...process.env, ...common, ...role.env }, stdio: ["ignore", out, out], detached: true });
      child.unref();
      writeFileSync(`${DIR}/${name}.pid`, String(child.pid));
    },
  };
}

// ---- the workload -------------------------------------------------------------------------

const USERS = 8;
/** Users with a second device (signed in twice). */
const TWO_DEVICES = [0, 1, 2];
/** How each device acks: index = device order (first devices of users 0..7, then second devices). */
const ACK_POLICIES: readonly AckPolicy[] = ["prompt", "late", "lossy", "prompt", "late", "prompt", "lossy", "prompt", "prompt", "late", "prompt"];
/** Direct contacts of user i: i+1 and i+3 (mod USERS), both ways. */
const CONTACT_STEPS = [1, 3];
/** Groups by creator and initial members (user indexes). */
const GROUPS: readonly { creator: number; members: readonly number[] }[] = [
  { creator: 0, members: [1, 2, 3, 4] },
  { creator: 1, members: [3, 5, 6, 7] },
  { creator: 2, members: [4, 6] },
];
/** The user whose only device goes silent (stops acking) and then offline for good. */
const GONE_USER = 7;
/** The user whose second device goes offline for good (the user stays online on the first). */
const GONE_SECOND_DEVICE_OF = 2;
const TICK_MS = 100;
/** Per device and tick: chance to send, to type, to mark everything read. */
const SEND_CHANCE = 0.25;
const TYPING_CHANCE = 0.01;
const READ_CHANCE = 0.02;
const MEMBERSHIP_EVERY_MS = 2_000;
/** How long a membership change waits for the group's sends in flight to be answered. */
const MEMBERSHIP_QUIET_WAIT_MS = 15_000;
/** How long a device leaving for good waits for its sends' answers before it closes. */
const LEAVE_WAIT_MS = 10_000;
const HEAL_POLL_MS = 1_000;

type Group = { group_id: string; conversation_id: string; creator: number; members: Set<number>; changing: boolean };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runClusterFault(endpoints: Endpoints, plan: FaultPlan, pending: PendingReader, say: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): Promise<FaultReport> {
  const gwHttp = endpoints.gateways.map((g) => g.replace(/^ws/, "http").replace(/\/ws$/, ""));
  const t0 = Date.now();
  const now = (): number => Date.now() - t0;
  const random = seedrandom.alea(`cluster-fault/${plan.seed ?? 1}`);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const limits = defaultLimits();
  // The nodes run with the default limits: a lost live delivery waits for the next resync.
  const delivery_bound_ms = limits.pendingResyncIntervalMs + 2 * limits.heartbeatIntervalMs + 5_000;
  const presence_bound_ms = limits.presenceTtlMs + limits.heartbeatIntervalMs + 1_000;

  const tag = Date.now().toString(36);
  const accounts: Account[] = await Promise.all(Array.from({ length: USERS }, (_, i) => signUp(endpoints.api, `fault${tag}_${i}`)));
  const seconds = await Promise.all(TWO_DEVICES.map((i) => signIn(endpoints.api, accounts[i]!.username)));
  const userOf = new Map(accounts.map((a, i) => [a.user_id, i]));
  const devices: HistoryDevice[] = [
    ...accounts.map((a, i) => new HistoryDevice(a, a.device_id, a.token, i % 2, ACK_POLICIES[i]!, gwHttp, now, random)),
    ...seconds.map((s, k) => new HistoryDevice(accounts[TWO_DEVICES[k]!]!, s.device_id, s.token, (TWO_DEVICES[k]! + 1) % 2, ACK_POLICIES[USERS + k]!, gwHttp, now, random)),
  ];
  const devicesOf = (user: number): HistoryDevice[] => devices.filter((d) => d.ref.user_id === accounts[user]!.user_id);

  // Groups, created before traffic: their initial members are members for the whole run.
  const groups: Group[] = [];
  for (const g of GROUPS) {
    const created = await accounts[g.creator]!.rest.call("POST", "/api/v1/groups", { name: `fault ${tag}`, member_ids: g.members.map((m) => accounts[m]!.user_id) });
    if (created.status !== 201) throw new Error(`group create: ${created.status} ${JSON.stringify(created.json)}`);
    groups.push({ group_id: created.json.group_id, conversation_id: created.json.conversation_id ?? `g.${created.json.group_id}`, creator: g.creator, members: new Set([g.creator, ...g.members]), changing: false });
  }
  const memberships: Membership[] = [];
  const openSince = new Map<string, number | null>();
  for (const g of groups) for (const m of g.members) openSince.set(`${g.conversation_id} ${m}`, null);
  const directs = new Set<string>();
  const contacts = (i: number): number[] => [...new Set(CONTACT_STEPS.flatMap((s) => [(i + s) % USERS, (i - s + USERS) % USERS]))];
  for (let i = 0; i < USERS; i++) for (const j of contacts(i)) directs.add(conversationOf(accounts[i]!.user_id, { kind: "direct", to: accounts[j]!.user_id }));

  // Presence: every device watches its contacts and the user who will leave for good.
  for (const d of devices) {
    const i = userOf.get(d.ref.user_id)!;
    for (const j of new Set([...contacts(i), GONE_USER])) if (j !== i) d.watching.add(accounts[j]!.user_id);
  }
  await Promise.all(devices.map((d) => d.connect()));

  const targetsOf = (i: number): { target: Target; conversation_id: string }[] => [
    ...contacts(i).map((j) => ({ target: { kind: "direct", to: accounts[j]!.user_id } as Target, conversation_id: conversationOf(accounts[i]!.user_id, { kind: "direct", to: accounts[j]!.user_id }) })),
    ...groups.filter((g) => g.members.has(i) && !g.changing).map((g) => ({ target: { kind: "group", group_id: g.group_id } as Target, conversation_id: g.conversation_id })),
  ];

  let n = 0;
  let traffic = true;
  const retrier = setInterval(() => {
    for (const d of devices) d.resendDue();
  }, 250);
  const ticker = setInterval(() => {
    if (!traffic) return;
    for (const d of devices) {
      if (!d.connected || d.quiet) continue;
      const i = userOf.get(d.ref.user_id)!;
      if (random() < SEND_CHANCE) {
        const choice = targetsOf(i).filter((t) => !d.busy(t.conversation_id));
        if (choice.length > 0) d.send(pick(choice).target, `n${n++}`);
      }
      if (random() < TYPING_CHANCE) {
        const choice = targetsOf(i);
        if (choice.length > 0) d.typing(pick(choice).target);
      }
      if (random() < READ_CHANCE) d.readAll();
    }
  }, TICK_MS);

  // Joins and leaves. A change waits until no send to the group is in flight and holds new
  // ones back until the REST call returned, so that every message's ordering window lies
  // wholly before or after it and the membership window recorded is exact for the checkers.
  let changes = 0;
  const changeMembership = async (): Promise<void> => {
    const free = groups.filter((x) => !x.changing);
    if (free.length === 0) return;
    const g = pick(free);
    const user = pick(Array.from({ length: USERS }, (_, i) => i).filter((i) => i !== g.creator));
    g.changing = true;
    try {
      const deadline = Date.now() + MEMBERSHIP_QUIET_WAIT_MS;
      // A device gone for good keeps its unanswered sends to the end; it cannot be waited for.
      const busy = (): boolean => devices.some((d) => (d.wanted || !d.quiet) && d.busy(g.conversation_id));
      while (busy() && Date.now() < deadline) await sleep(50);
      if (busy()) {
        say(`t=${now()} ms: skipped a membership change of ${g.conversation_id}: sends to it stayed unanswered for ${MEMBERSHIP_QUIET_WAIT_MS} ms`);
        return;
      }
      const user_id = accounts[user]!.user_id;
      const key = `${g.conversation_id} ${user}`;
      const started = now();
      if (g.members.has(user)) {
        const r = await accounts[user]!.rest.call("DELETE", `/api/v1/groups/${g.group_id}/members/${user_id}`);
        if (r.status !== 204) throw new Error(`leave: ${r.status} ${JSON.stringify(r.json)}`);
        memberships.push({ conversation_id: g.conversation_id, user_id, joined_at: openSince.get(key) ?? null, left_at: started });
        openSince.delete(key);
        g.members.delete(user);
        changes++;
        // A send from the leaver is refused (NOT_A_MEMBER): recorded as a failed send.
        const d = devicesOf(user).find((x) => x.connected);
        d?.send({ kind: "group", group_id: g.group_id }, `n${n++} after leaving`);
      } else {
        const r = await accounts[g.creator]!.rest.call("POST", `/api/v1/groups/${g.group_id}/members`, { user_ids: [user_id] });
        if (r.status !== 200) throw new Error(`join: ${r.status} ${JSON.stringify(r.json)}`);
        openSince.set(key, now());
        g.members.add(user);
        changes++;
      }
    } finally {
      g.changing = false;
    }
  };
  // One change starts every MEMBERSHIP_EVERY_MS, in a group not already changing, so that a
  // slow one (its group's sends answered late under load) does not hold the others back.
  const changing: Promise<void>[] = [];
  const membership = (async () => {
    while (traffic) {
      await sleep(MEMBERSHIP_EVERY_MS);
      if (traffic) changing.push(changeMembership().catch((e: unknown) => say(`t=${now()} ms: membership change failed: ${e instanceof Error ? e.message : String(e)}`)));
    }
    await Promise.all(changing);
  })();

  // Devices that blip offline and come back; the two that leave for good.
  const churn: { at_ms: number; run: () => Promise<void> }[] = [];
  for (let k = 0; k < 3; k++) {
    const d = pick(devices.filter((x) => x.ref.user_id !== accounts[GONE_USER]!.user_id));
    const at_ms = Math.floor(random() * plan.traffic_ms * 0.8);
    const away_ms = 1_000 + Math.floor(random() * 3_000);
    churn.push({ at_ms, run: async () => {
      await d.drop(true);
      await sleep(away_ms);
      await d.comeBack();
    } });
  }
  const gone = devicesOf(GONE_USER)[0]!;
  const goneSecond = devicesOf(GONE_SECOND_DEVICE_OF).find((d) => d.device_id !== accounts[GONE_SECOND_DEVICE_OF]!.device_id)!;
  churn.push({ at_ms: Math.floor(plan.traffic_ms * 0.35), run: async () => void (gone.ackPolicy = "silent") });
  churn.push({ at_ms: Math.floor(plan.traffic_ms * 0.5), run: () => gone.leaveForGood(LEAVE_WAIT_MS) });
  churn.push({ at_ms: Math.floor(plan.traffic_ms * 0.45), run: () => goneSecond.leaveForGood(LEAVE_WAIT_MS) });

  const timed = [...plan.actions.map((a) => ({ at_ms: a.at_ms, label: a.label, run: a.run, loud: true })), ...churn.map((c) => ({ ...c, label: "", loud: false }))].map(
    (a) =>
      new Promise<void>((done) =>
        setTimeout(() => {
          if (a.loud) say(`t=${now()} ms: ${a.label}`);
          Promise.resolve()
            .then(() => a.run())
            .then(
              () => done(),
              (e: unknown) => {
                say(`t=${now()} ms: ${a.label || "client churn"} failed: ${e instanceof Error ? e.message : String(e)}`);
                done();
              },
            );
        }, a.at_ms),
      ),
  );
  await sleep(plan.traffic_ms);
  traffic = false;
  clearInterval(ticker);
  await membership;
  // Actions still running (a broker restart, a device away) finish before healing is timed.
  await Promise.all(timed);
  const offline = new Set([gone, goneSecond]);
  for (const d of devices) if (!offline.has(d)) void d.comeBack().catch(() => undefined);

  // Heal, and measure quiescence twice: once as soon as it holds, then again after the
  // presence bound (presence converges within it, and nothing may have moved meanwhile).
  const healed_at = now();
  const settle_at = healed_at + presence_bound_ms;
  const deadline = settle_at + plan.heal_ms;
  let quiescent_at: number | null = null;
  let first_quiet: number | null = null;
  let stuck: string[] = [];
  while (now() < deadline) {
    stuck = await whatIsLeft(devices, offline, pending, accounts);
    if (stuck.length === 0) {
      first_quiet ??= now();
      if (now() >= settle_at) {
        quiescent_at = now();
        break;
      }
    } else first_quiet = null;
    await sleep(HEAL_POLL_MS);
  }
  clearInterval(retrier);
  if (first_quiet !== null) say(`quiescent ${first_quiet - healed_at} ms after healing${quiescent_at === null ? " but not again after the presence bound" : `, still at ${quiescent_at - healed_at} ms (presence bound ${presence_bound_ms} ms)`}`);
  else say(`no quiescence within ${deadline - healed_at} ms of healing; left:\n  ${stuck.slice(0, 40).join("\n  ")}`);

  const finalPending = (await Promise.all(devices.map(async (d) => (await pending.list(d.ref)).map((e) => ({ device: d.ref, message_id: e.message_id }))))).flat();
  const connected = devices.filter((d) => d.connected);

  // Each conversation's history from the REST API, as a current member reads it.
  const history: Record<string, string[]> = {};
  const conversations = new Set([...directs, ...groups.map((g) => g.conversation_id), ...devices.flatMap((d) => d.sends.map((s) => s.conversation_id))]);
  for (const conv of conversations) {
    const group = groups.find((g) => g.conversation_id === conv);
    const reader = group !== undefined ? accounts[group.creator]! : accounts[userOf.get(conv.split(".")[1]!)!]!;
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await reader.rest.call("GET", `/api/v1/conversations/${conv}/messages?limit=100${cursor === null ? "" : `&before=${cursor}`}`);
      if (page.status === 404) break; // a direct chat nobody wrote in
      if (page.status !== 200) throw new Error(`history of ${conv}: ${page.status} ${JSON.stringify(page.json)}`);
      ids.push(...page.json.messages.map((m: { message_id: string }) => m.message_id));
      cursor = page.json.next_cursor;
    } while (cursor !== null);
    history[conv] = ids.reverse();
  }
  for (const [key, joined_at] of openSince) {
    const [conversation_id, user] = key.split(" ");
    memberships.push({ conversation_id: conversation_id!, user_id: accounts[Number(user)]!.user_id, joined_at, left_at: null });
  }
  for (const c of directs) for (const user_id of c.split(".").slice(1)) memberships.push({ conversation_id: c, user_id, joined_at: null, left_at: null });

  const h: History = {
    devices: devices.map((d) => d.ref),
    memberships,
    sends: devices.flatMap((d) => d.sends),
    displays: devices.flatMap((d) => d.displays),
    receipts: devices.flatMap((d) => d.receipts),
    acks: devices.flatMap((d) => d.acks),
    received: devices.flatMap((d) => d.received),
    connections: devices.flatMap((d) => d.spans()),
    limit_refusals: devices.flatMap((d) => d.limit_refusals),
    final: {
      quiescent: quiescent_at !== null,
      quiescent_at,
      healed_at,
      history,
      pending: finalPending,
      connected: connected.map((d) => d.ref),
      presence_watches: devices.flatMap((d) => [...d.watching].map((user_id) => ({ device: d.ref, user_id }))),
      ...(quiescent_at === null ? { stuck } : {}),
    },
    delivery_bound_ms,
    presence_bound_ms,
  };
  const { violations, verdicts } = judgeAll(h);
  if (violations.length > 0) explain(devices, accounts, memberships, history, say);
  const ok = h.sends.filter((s) => s.outcome === "ok").length;
  const deliveries = h.displays.filter((d) => d.via === "new_message").length;
  say(
    `${h.sends.length} sends (${ok} ok, ${h.sends.filter((s) => s.outcome === "fail").length} refused), ${deliveries} deliveries, ${h.receipts.filter((r) => r.status !== "sent").length} delivered/read receipts, ${h.acks.length} acks, ${changes} joins and leaves, ${finalPending.length} pending entries read back from ${pending.where}; ${quiescent_at === null ? "no quiescence" : `quiescent at ${quiescent_at - healed_at} ms after healing`}`,
  );
  say("what each checker judged:");
  for (const line of formatVerdicts(verdicts)) say(line);
  await Promise.all(devices.map((d) => d.close()));
  return { sends: h.sends.length, ok, deliveries, healed_ms: (quiescent_at ?? now()) - healed_at, quiescent: quiescent_at !== null, violations, verdicts, stuck, history: h };
}

/**
 * What keeps the run from quiescence, one line each, naming where: devices meant to be online
 * but not connected, sends unanswered, late acks not yet sent, and every pending entry the
 * store still holds for a connected device (its message, conversation, sender, and the
 * gateway that device is connected to). Empty when quiescent.
 */
export async function whatIsLeft(devices: readonly HistoryDevice[], offline: ReadonlySet<HistoryDevice>, pending: PendingReader, accounts: readonly Account[]): Promise<string[]> {
  const name = (user_id: string): string => accounts.find((a) => a.user_id === user_id)?.username ?? user_id;
  const out: string[] = [];
  for (const d of devices) {
    const who = `${name(d.ref.user_id)}/${d.device_id}`;
    // A device gone for good keeps whatever it had unanswered (those sends end `info`).
    if (offline.has(d)) continue;
    if (!d.connected) out.push(`${who}: not connected (last connection ${d.connection} on gw-${d.gateway})`);
    for (const [client_msg_id, p] of d.unanswered) out.push(`${who}: send ${client_msg_id} to ${conversationOf(d.ref.user_id, p.target)} unanswered (content ${p.content})`);
    if (d.lateAcks > 0) out.push(`${who}: ${d.lateAcks} late acks not yet sent`);
  }
  const left = await Promise.all(
    devices.filter((d) => d.connected).map(async (d) => {
      try {
        return (await pending.list(d.ref)).map((e) => `${pending.where}: message ${e.message_id} of ${e.conversation_id} from ${name(e.from)} still pending for ${name(d.ref.user_id)}/${d.device_id}, connected to gw-${d.gateway} (connection ${d.connection})`);
      } catch (e) {
        return [`${pending.where}: could not read the pending entries of ${name(d.ref.user_id)}/${d.device_id}: ${e instanceof Error ? e.message : String(e)}`];
      }
    }),
  );
  return [...out, ...left.flat()];
}

/** On a failed run: what each undelivered message went through, and each device's connections. */
function explain(devices: readonly HistoryDevice[], accounts: readonly Account[], memberships: readonly Membership[], history: Record<string, string[]>, say: (line: string) => void): void {
  const name = (user_id: string): string => accounts.find((a) => a.user_id === user_id)?.username ?? user_id;
  const members = (conversation_id: string): Set<string> => new Set(memberships.filter((m) => m.conversation_id === conversation_id && m.left_at === null).map((m) => m.user_id));
  for (const d of devices) {
    for (const s of d.sends) {
      if (s.outcome !== "ok") continue;
      const stored = history[s.conversation_id]?.includes(s.message_id!) === true;
      const missing = devices.filter((r) => r !== d && r.connected && members(s.conversation_id).has(r.ref.user_id) && !r.displays.some((x) => x.message_id === s.message_id));
      if (missing.length === 0) continue;
      say(`  undelivered ${s.content} ${s.message_id} ${name(d.ref.user_id)}/${d.device_id} -> ${missing.map((r) => `${name(r.ref.user_id)}/${r.device_id}`).join(", ")}: invoked t=${s.invoked_at}, sent t=${s.completed_at}, in history: ${stored}`);
    }
  }
  for (const d of devices) say(`  ${name(d.ref.user_id)}/${d.device_id} (${d.ackPolicy}): ${d.timeline.join("; ")}`);
}

/** Prints a report's violations and verdict; the exit code a program should use. */
export function printReport(r: FaultReport, write: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): number {
  for (const v of r.violations.slice(0, 20)) write(`  [${v.invariant} ${v.name}] ${v.message}`);
  const vacuous = r.verdicts.filter((v) => Object.values(v.judged).every((k) => k === 0)).map((v) => v.name);
  if (vacuous.length > 0) write(`checkers that judged nothing (passed vacuously): ${vacuous.join(", ")}`);
  write(r.violations.length === 0 ? `${CHECKERS.length} invariants hold after ${r.sends} sends (${r.ok} ok), ${r.deliveries} deliveries, healed in ${r.healed_ms} ms` : `${r.violations.length} violations`);
  return r.violations.length === 0 ? 0 : 1;
}

/** Writes a run's history as JSON (FAULT_HISTORY_OUT), for tests that plant faults in real data. */
export function keepHistory(r: FaultReport): void {
  const out = process.env.FAULT_HISTORY_OUT;
  if (out !== undefined && out !== "") writeFileSync(out, `${JSON.stringify(r.history)}\n`);
}

/** As a program against `make cluster-up`: kills and restarts gw-1 and router-0 by their pidfiles. */
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const endpoints = JSON.parse(readFileSync(`${DIR}/endpoints.json`, "utf8")) as Endpoints;
  const nodes = clusterNodes();
  const pending = clusterPending();
  runClusterFault(
    endpoints,
    killAndRestart(
      () => {
        nodes.signal("gw-1", "SIGKILL");
        nodes.signal("router-0", "SIGKILL");
      },
      () => {
        nodes.restart("gw-1");
        nodes.restart("router-0");
      },
    ),
    pending,
  ).then(
    async (r) => {
      keepHistory(r);
      await pending.close();
      process.exit(printReport(r));
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
