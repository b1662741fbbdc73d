/**
 * A smoke run against `make cluster-up`: users spread over both gateways, REST on the api
 * node; a 1:1 exchange with receipts, a retry that must map to the same message, a group
 * fan-out across gateways, and an offline recipient who gets 50 messages in order on
 * connect. Exits non-zero on the first failed check. Run: `make cluster-smoke`.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Socket, signUp } from "./api-client.js";

export type Endpoints = { api: string; gateways: string[] };

/** Runs the smoke scenarios; resolves with the number of checks, rejects on the first failure. */
export async function runClusterSmoke(endpoints: Endpoints, say: (line: string) => void = (l) => void process.stdout.write(`${l}\n`)): Promise<number> {
  const wsBase = (i: number): string => endpoints.gateways[i % endpoints.gateways.length]!.replace(/^ws/, "http").replace(/\/ws$/, "");
  let checks = 0;
  const check = (what: string, ok: boolean): void => {
    checks++;
    if (!ok) throw new Error(`FAILED: ${what}`);
    say(`ok  ${what}`);
  };
  const tag = Date.now().toString(36);
  const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((n) => signUp(endpoints.api, `${n}${tag}`)));
  const a = await Socket.open(wsBase(0), alice!.token);
  const b = await Socket.open(wsBase(1), bob!.token);
  const sent = await a.sendText(bob!.user_id, "hello across gateways");
  const got = await b.wait((f) => f.event === "new_message" && f.data.message_id === sent.message_id);
  check("a message crosses from gateway 0 to gateway 1", got.data.content === "hello across gateways");
  b.send("ack", { message_id: sent.message_id, status: "read", conversation_id: sent.conversation_id });
  await a.wait((f) => f.event === "delivery_receipt" && f.data.message_id === sent.message_id && f.data.status === "read");
  check("the read receipt travels back to the sender's gateway", true);
  const again = await a.sendText(bob!.user_id, "hello across gateways", sent.client_msg_id);
  check("a retry with the same client_msg_id answers the same message_id", again.message_id === sent.message_id);
  const g = await alice!.rest.call("POST", "/api/v1/groups", { name: "smoke", member_ids: [bob!.user_id, carol!.user_id] });
  const c = await Socket.open(wsBase(1), carol!.token);
  const id = randomUUID();
  a.send("send_group_message", { group_id: g.json.group_id, content: "hi all", type: "text", client_msg_id: id });
  const gs = await a.wait((f) => f.event === "delivery_receipt" && f.data.client_msg_id === id);
  for (const s of [b, c]) await s.wait((f) => f.event === "new_message" && f.data.message_id === gs.data.message_id);
  check("a group message fans out to members on the other gateway", true);
  await c.close();
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push((await a.sendText(carol!.user_id, `offline ${i}`)).message_id);
  const c2 = await Socket.open(wsBase(0), carol!.token);
  const replay = await c2.waitCount((f) => f.event === "new_message" && String(f.data.content).startsWith("offline "), 50, 30_000);
  check("an offline recipient gets all 50 pending messages, in order, on connect", JSON.stringify(replay.map((f) => f.data.message_id)) === JSON.stringify(ids));
  const history = await bob!.rest.call("GET", `/api/v1/conversations/${sent.conversation_id}/messages`);
  check("history on the api node shows the message once", history.json.messages.filter((m: { message_id: string }) => m.message_id === sent.message_id).length === 1);
  await Promise.all([a.close(), b.close(), c2.close()]);
  return checks;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const endpoints = JSON.parse(readFileSync(".cluster/endpoints.json", "utf8")) as Endpoints;
  runClusterSmoke(endpoints).then(
    (checks) => {
      process.stdout.write(`${checks} passed, 0 failed\n`);
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
