/**
 * The two-region cluster end to end (`make test-regions`, after or including
 * `make cluster-up REGIONS=2`): users homed in r0 and r1 (chosen at sign-up), each connected
 * to their home region's gateways. Checks, each of which fails the run:
 * - a device connecting to the wrong region is refused (421 WRONG_REGION);
 * - 1:1 across regions both ways, for a conversation ordered in r0 and one ordered in r1:
 *   every message delivered once, in message-ID order, `sent` answered to both senders
 *   (the remote one's send is forwarded to the ordering region's log), `read` receipts stored
 *   in the ordering region (history there shows them), and pushed live to a sender homed there;
 * - two groups with members in both regions, one ordered in each: every member gets every
 *   other member's messages, all in the same order;
 * - the relay killed (kill -9) mid-traffic and restarted: nothing lost, nothing doubled,
 *   order kept; then the other region's relay stopped (SIGSTOP) for 10 s: the first retries
 *   with backoff and delivers everything once it answers;
 * - a timed phase (before the relay is killed; 6 flows of 40 messages, 4 a second each):
 *   delivery latency within a region, for a send forwarded to the ordering region, and for a
 *   message relayed to a member homed in the other region (p50, p99).
 * Bounded: every wait has a deadline; prints one JSON line of figures at the end.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { clusterNodes } from "../cluster.fault.js";
import { Rest, Socket, signIn, type Account, type Frame } from "./api-client.js";

type RegionEndpoints = { api: string; gateways: string[]; relay: string };
type User = Account & { region: string; socket: Socket };

const say = (line: string): void => void process.stdout.write(`${line}\n`);
let checks = 0;
function check(what: string, ok: boolean, detail = ""): void {
  checks++;
  if (!ok) throw new Error(`FAILED: ${what}${detail === "" ? "" : `: ${detail}`}`);
  say(`ok  ${what}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const httpOf = (ws: string): string => ws.replace(/^ws/, "http").replace(/\/ws$/, "");

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runRegionsE2E(regions: Record<string, RegionEndpoints>): Promise<Record<string, unknown>> {
  const names = Object.keys(regions).sort();
  if (names.length < 2) throw new Error(`need two regions in .cluster/endpoints.json, found ${names.join(",")}`);
  const [R0, R1] = [names[0]!, names[1]!];
  const tag = Date.now().toString(36);
  let n = 0;
  const users: User[] = [];
  const signUp = async (region: string): Promise<User> => {
    const username = `rg${tag}${n++}`;
    const created = await new Rest(regions[region]!.api).call("POST", "/api/v1/users", { username, password: "correct horse battery", home_region: region });
    if (created.status !== 201 || created.json.home_region !== region) throw new Error(`sign-up in ${region}: ${created.status} ${JSON.stringify(created.json)}`);
    const account = await signIn(regions[region]!.api, username);
    const gw = regions[region]!.gateways[users.filter((u) => u.region === region).length % regions[region]!.gateways.length]!;
    const user: User = { ...account, region, socket: await Socket.open(httpOf(gw), account.token) };
    users.push(user);
    return user;
  };

  // ---- sign-up and the wrong region --------------------------------------------------------
  const refused = await new Rest(regions[R0]!.api).call("POST", "/api/v1/users", { username: `rg${tag}bad`, password: "correct horse battery", home_region: "nowhere" });
  check("sign-up with a region the deployment does not have is refused (INVALID_FIELD)", refused.status === 400 && refused.json?.error?.code === "INVALID_FIELD", JSON.stringify(refused.json));
  const a0 = await signUp(R0);
  const b0 = await signUp(R0);
  const a1 = await signUp(R1);
  const b1 = await signUp(R1);
  const wrong = await Socket.open(httpOf(regions[R1]!.gateways[0]!), a0.token).then(
    (s) => {
      void s.close();
      return "admitted";
    },
    (e: unknown) => String(e),
  );
  check("a device connecting to a gateway outside its home region is refused (421 WRONG_REGION)", wrong.includes("421"), wrong);

  // A direct chat is ordered in the home region of its lower user ID: find one cross-region pair
  // ordered in each region (more r1 users until both exist; bounded).
  const orderedIn = (x: User, y: User): string => (x.user_id < y.user_id ? x.region : y.region);
  const cross = (): [User, User][] => users.filter((u) => u.region === R0).flatMap((x) => users.filter((u) => u.region === R1).map((y) => [x, y] as [User, User]));
  for (let i = 0; i < 12 && !(cross().some(([x, y]) => orderedIn(x, y) === R0) && cross().some(([x, y]) => orderedIn(x, y) === R1)); i++) await signUp(i % 2 === 0 ? R1 : R0);
  const pairR0 = cross().find(([x, y]) => orderedIn(x, y) === R0);
  const pairR1 = cross().find(([x, y]) => orderedIn(x, y) === R1);
  if (pairR0 === undefined || pairR1 === undefined) throw new Error("could not find cross-region pairs ordered in both regions");

  // ---- 1:1 both ways ------------------------------------------------------------------------
  for (const [pair, ordering] of [[pairR0, R0], [pairR1, R1]] as const) {
    const [x, y] = pair;
    const sends = await Promise.all([x, y].map(async (from) => {
      const to = from === x ? y : x;
      const out: { message_id: string; conversation_id: string }[] = [];
      for (let i = 0; i < 10; i++) out.push(await from.socket.sendText(to.user_id, `${from.username} to ${to.username} #${i}`));
      return out;
    }));
    const conversation_id = sends[0]![0]!.conversation_id;
    for (const [side, from] of [[0, x], [1, y]] as const) {
      const to = from === x ? y : x;
      const got = await to.socket.waitCount((f) => f.event === "new_message" && f.data.conversation_id === conversation_id && f.data.from === from.user_id, 10, 30_000);
      const ids = got.map((f) => String(f.data.message_id));
      check(`1:1 ordered in ${ordering}: ${from.region} -> ${to.region}, 10 of 10 delivered once, in order`, JSON.stringify(ids) === JSON.stringify(sends[side]!.map((s) => s.message_id)), JSON.stringify(ids));
    }
    // Receipts: each recipient reads what it got; the ordering region stores them (its history serves them).
    for (const [from, to] of [[x, y], [y, x]] as const) {
      const mine = sends[from === x ? 0 : 1]!;
      for (const s of mine) to.socket.send("ack", { message_id: s.message_id, status: "read", conversation_id });
      if (from.region === ordering) {
        await from.socket.waitCount((f) => f.event === "delivery_receipt" && f.data.conversation_id === conversation_id && f.data.status === "read", 10, 30_000);
        check(`1:1 ordered in ${ordering}: 'read' receipts pushed live to the sender homed there (${from.region})`, true);
      }
    }
    const deadline = Date.now() + 30_000;
    for (const from of [x, y]) {
      const mine = new Set(sends[from === x ? 0 : 1]!.map((s) => s.message_id));
      let statuses: string[] = [];
      while (Date.now() < deadline) {
        const api = new Rest(regions[ordering]!.api, from.token);
        const there = await api.call("GET", `/api/v1/conversations/${conversation_id}/messages?limit=100`);
        statuses = (there.json?.messages ?? []).filter((m: { message_id: string }) => mine.has(m.message_id)).map((m: { status: string }) => m.status);
        if (statuses.length === 10 && statuses.every((s) => s === "read")) break;
        await sleep(250);
      }
      check(`1:1 ordered in ${ordering}: the ${from.region} sender's 10 messages show 'read' in the ordering region's history`, statuses.length === 10 && statuses.every((s) => s === "read"), JSON.stringify(statuses));
    }
  }

  // ---- groups with members in both regions --------------------------------------------------
  for (const creator of [a0, a1]) {
    const members = users.filter((u) => u !== creator && [a0, b0, a1, b1].includes(u));
    const g = await creator.rest.call("POST", "/api/v1/groups", { name: `g-${creator.region}`, member_ids: members.map((m) => m.user_id) });
    if (g.status !== 201) throw new Error(`group: ${g.status} ${JSON.stringify(g.json)}`);
    const group_id = String(g.json.group_id);
    const everyone = [creator, ...members];
    const sent = new Map<User, string[]>();
    await Promise.all(everyone.map(async (u) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = randomUUID();
        const answer = u.socket.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === id && f.data.status === "sent", 30_000);
        u.socket.send("send_group_message", { group_id, content: `${u.username} in ${group_id} #${i}`, type: "text", client_msg_id: id });
        ids.push(String((await answer).data.message_id));
      }
      sent.set(u, ids);
    }));
    const all = [...sent.values()].flat().sort();
    const orders: string[][] = [];
    for (const u of everyone) {
      const expected = all.filter((id) => !sent.get(u)!.includes(id));
      const got = await u.socket.waitCount((f) => f.event === "new_message" && f.data.group_id === group_id, expected.length, 30_000);
      const ids = got.map((f) => String(f.data.message_id));
      orders.push(ids);
      check(`group ordered in ${creator.region}: member in ${u.region} got all ${expected.length} others' messages once, in message-ID order`, JSON.stringify(ids) === JSON.stringify(expected), JSON.stringify(ids));
    }
  }

  // ---- timed phase: within a region, forwarded, relayed --------------------------------------
  const flows: { name: string; from: User; to: User; kind: "within" | "forwarded" | "relayed" }[] = [];
  flows.push({ name: `within ${R0}`, from: a0, to: b0, kind: "within" });
  flows.push({ name: `within ${R1}`, from: a1, to: b1, kind: "within" });
  // Each flow in a conversation of its own (a conversation's records are handled one at a time),
  // so a relayed flow and a forwarded one never queue behind each other.
  const used = new Set<string>();
  const freshPair = async (ordering: string): Promise<[User, User]> => {
    for (let i = 0; i < 12; i++) {
      const found = cross().find(([x, y]) => orderedIn(x, y) === ordering && !used.has(x.user_id) && !used.has(y.user_id));
      if (found !== undefined) {
        used.add(found[0].user_id);
        used.add(found[1].user_id);
        return found;
      }
      await signUp(i % 2 === 0 ? R0 : R1);
    }
    throw new Error(`no fresh cross-region pair ordered in ${ordering}`);
  };
  for (const u of [a0, b0, a1, b1]) used.add(u.user_id);
  for (const ordering of [R0, R1]) {
    for (const kind of ["relayed", "forwarded"] as const) {
      const [x, y] = await freshPair(ordering);
      const local = x.region === ordering ? x : y;
      const remote = x.region === ordering ? y : x;
      if (kind === "relayed") flows.push({ name: `relayed ${ordering}->${remote.region}`, from: local, to: remote, kind });
      else flows.push({ name: `forwarded ${remote.region}->${ordering}`, from: remote, to: local, kind });
    }
  }
  const per_flow = 40;
  const latencies: Record<"within" | "forwarded" | "relayed", number[]> = { within: [], forwarded: [], relayed: [] };
  let delivered = 0;
  let sent_total = 0;
  await Promise.all(flows.map(async (flow) => {
    const sent_at = new Map<string, number>();
    const arrived = new Map<string, number>();
    flow.to.socket.onFrame((f) => {
      if (f.event !== "new_message" || f.data.from !== flow.from.user_id) return;
      const c = String(f.data.content);
      if (!c.startsWith(`t:${flow.name}:`) || arrived.has(c)) return;
      arrived.set(c, Date.now());
    });
    for (let i = 0; i < per_flow; i++) {
      const content = `t:${flow.name}:${i}`;
      sent_at.set(content, Date.now());
      sent_total++;
      flow.from.socket.sendText(flow.to.user_id, content).catch(() => undefined);
      await sleep(250);
    }
    const deadline = Date.now() + 60_000;
    while (arrived.size < per_flow && Date.now() < deadline) await sleep(50);
    delivered += arrived.size;
    for (const [c, t] of arrived) latencies[flow.kind].push(t - sent_at.get(c)!);
  }));
  check(`timed phase: ${delivered} of ${sent_total} delivered`, delivered === sent_total);
  // ---- the relay killed mid-traffic ------------------------------------------------------------
  // A conversation ordered in R0 whose recipient is homed in R1: everything it gets crosses R0's relay.
  const [ox, oy] = pairR0;
  const sender = ox.region === R0 ? ox : oy;
  const receiver = ox.region === R0 ? oy : ox;
  const nodes = clusterNodes();
  const relayName = `${R0}-relay`;
  const burst = 300;
  const sending = sender.socket.sendBurst(receiver.user_id, burst, 180_000);
  await sleep(1_500);
  nodes.signal(relayName, "SIGKILL");
  await nodes.exited(relayName);
  const killed_at = Date.now();
  say(`..  killed ${relayName} (kill -9) mid-traffic; restarting it in 4 s`);
  await sleep(4_000);
  const burstFrom = (f: Frame): boolean => f.event === "new_message" && f.data.from === sender.user_id && /^m\d+$/.test(String(f.data.content));
  // What had crossed when the relay came back: the rest waited in the outbox.
  const before_restart = new Set(receiver.socket.frames.filter(burstFrom).map((f) => String(f.data.message_id))).size;
  nodes.restart(relayName);
  say(`..  restarted ${relayName}; ${before_restart} of ${burst} had crossed before`);
  const burst_result = await sending;
  const got = await receiver.socket.waitCount((f) => f.event === "new_message" && f.data.from === sender.user_id && /^m\d+$/.test(String(f.data.content)), burst, 120_000).catch(async () => {
    // Live deliveries may be missed while the relay is down (its hand-off to the gateway is best effort); what is
    // pending is what counts: a reconnect replays it.
    return [] as Frame[];
  });
  let received = got;
  if (received.length < burst) {
    await receiver.socket.close();
    const gw = regions[receiver.region]!.gateways[0]!;
    receiver.socket = await Socket.open(httpOf(gw), receiver.token);
    received = await receiver.socket.waitCount((f) => f.event === "new_message" && f.data.from === sender.user_id && /^m\d+$/.test(String(f.data.content)), burst, 60_000);
    say(`..  live deliveries during the outage were missed; a reconnect replayed the pending entries`);
  }
  const distinct = [...new Set(received.map((f) => String(f.data.message_id)))];
  const contents = distinct.map((id) => Number(String(received.find((f) => f.data.message_id === id)!.data.content).slice(1)));
  check(`relay of ${R0} killed and restarted mid-traffic: ${burst} of ${burst} delivered to the ${R1} recipient`, distinct.length === burst, `${distinct.length} distinct`);
  check("... in message-ID order, each once", JSON.stringify(distinct) === JSON.stringify([...distinct].sort()) && received.length >= burst, "");
  check("... in the order they were sent", contents.every((c, i) => c === i), JSON.stringify(contents.slice(0, 20)));
  const relay_outage_ms = Date.now() - killed_at;

  // ---- the destination's relay unreachable: the source retries with backoff ------------------
  // R1's relay stopped (SIGSTOP: connections hang, as across a cut link) while R0 relays to it;
  // R0's relay must time out, back off and retry, then deliver everything once it answers.
  const dest = `${R1}-relay`;
  const burst2 = 60;
  const mark = `p${Date.now().toString(36)}-`;
  const partition_sending = (async () => {
    for (let i = 0; i < burst2; i++) await sender.socket.sendText(receiver.user_id, `${mark}${i}`);
  })();
  await sleep(500);
  nodes.signal(dest, "SIGSTOP");
  say(`..  stopped ${dest} (SIGSTOP) for 10 s while ${R0} relays to it`);
  let attempts_seen = 0;
  const stop_until = Date.now() + 10_000;
  while (Date.now() < stop_until) {
    const lanes = await new Rest(regions[R0]!.relay).call("GET", "/relay/v1/lanes").catch(() => null);
    for (const l of (lanes?.json?.lanes ?? []) as { attempt: number }[]) attempts_seen = Math.max(attempts_seen, l.attempt);
    await sleep(500);
  }
  nodes.signal(dest, "SIGCONT");
  await partition_sending;
  const fromMark = (f: Frame): boolean => f.event === "new_message" && f.data.from === sender.user_id && String(f.data.content).startsWith(mark);
  const got2 = await receiver.socket.waitCount(fromMark, burst2, 120_000);
  const ids2 = [...new Set(got2.map((f) => String(f.data.message_id)))];
  check(`${R0}'s relay retried while ${R1}'s relay did not answer (${attempts_seen} failed attempts on one batch)`, attempts_seen >= 1);
  check(`... then delivered ${burst2} of ${burst2}, once, in order`, ids2.length === burst2 && got2.length === burst2 && got2.every((f, i) => String(f.data.content) === `${mark}${i}`), `${got2.length} frames`);

  const figures: Record<string, unknown> = { checks, loadavg_1m: loadavg()[0], relay_burst: { sent: burst, delivered: distinct.length, crossed_before_restart: before_restart, refused: burst_result.refused, unanswered_resends: burst_result.unanswered_resends, drained_ms_after_kill: relay_outage_ms }, relay_unreachable: { sent: burst2, delivered: ids2.length, failed_attempts_seen: attempts_seen }, timed: { sent: sent_total, delivered } };
  for (const [kind, list] of Object.entries(latencies)) {
    const sorted = [...list].sort((p, q) => p - q);
    (figures.timed as Record<string, unknown>)[kind] = { n: sorted.length, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99), max_ms: sorted.at(-1) };
  }
  await Promise.all(users.map((u) => u.socket.close()));
  return figures;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const endpoints = JSON.parse(readFileSync(".cluster/endpoints.json", "utf8")) as { regions?: Record<string, RegionEndpoints> };
  if (endpoints.regions === undefined) {
    process.stderr.write("the running cluster has one region: start it with `make cluster-up REGIONS=2`\n");
    process.exit(2);
  }
  const hard = setTimeout(() => {
    process.stderr.write("regions e2e: gave up after 10 minutes\n");
    process.exit(1);
  }, 600_000);
  runRegionsE2E(endpoints.regions).then(
    (figures) => {
      clearTimeout(hard);
      process.stdout.write(`${JSON.stringify(figures)}\n${checks} passed, 0 failed\n`);
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
