/**
 * The router host's lease gate: a send's prepare_send (the last step before a record becomes a
 * message) runs only while the machine lease is live. The ID itself is the log partition's
 * (core/router/ordering.ts), not the leased machine's. Memory ports, real timers; the lease is a switch.
 */
import { describe, expect, it } from "vitest";
import { ClockSystem, DirectoryMemory, GatewayLinkMemory, LogMemory, MessageStoreMemory, PendingStoreMemory, PushMemory, SessionStoreMemory } from "../../adapters/memory/index.js";
import { directConversationId } from "../../core/ids/conversation.js";
import { snowflakeParse } from "../../core/ids/snowflake.js";
import { defaultLimits } from "../../core/limits.js";
import { partitionOf } from "../../core/ports/log.js";
import { RouterHost } from "./router-host.js";
import { timersReal } from "../timers-real.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("RouterHost with a machine lease", () => {
  it("orders no message while the lease is not live, and orders it, numbered by its partition, once it is", async () => {
    const clock = new ClockSystem();
    const timers = timersReal(clock);
    const log = new LogMemory();
    const messages = new MessageStoreMemory();
    const directory = new DirectoryMemory();
    for (const user_id of ["alice", "bob"]) {
      await directory.createUser({ user_id, username: user_id, password_hash: "x", created_at_ms: 0 });
      await directory.addDevice(user_id, `${user_id}-phone`, 0);
    }
    let live: number | null = null;
    const calls: string[] = [];
    const host = new RouterHost(
      { log, messages, pending: new PendingStoreMemory(), directory, sessions: new SessionStoreMemory(clock), link: new GatewayLinkMemory(), push: new PushMemory(), clock, timers, lease: { machine: () => live } },
      { router_id: "r", machine: 77, limits: defaultLimits(), push_preview_chars: 0, variant: "correct", group: "g", member_id: "m", call_timeout_ms: 1_000, poll_wait_ms: 20 },
      { call_done: (call, _ms, ok) => void calls.push(`${call}:${ok}`) },
    );
    const conversation_id = directConversationId("alice", "bob");
    await log.append(conversation_id, {
      kind: "send",
      conversation_id,
      sender_id: "alice",
      sender_device_id: "alice-phone",
      origin: { gateway_id: "gw", connection_id: "c" },
      target: { kind: "direct", to: "bob" },
      content: "hi",
      type: "text",
      client_msg_id: "cm-1",
      accepted_at_ms: clock.now(),
    });
    await new Promise<void>((ok) => host.start(() => ok()));
    try {
      await sleep(600);
      expect(calls).toContain("prepare_send:false");
      expect(await messages.lastMessageId(conversation_id)).toBeNull();
      // Another issuer's number is no lease of ours either.
      live = 78;
      await sleep(600);
      expect(await messages.lastMessageId(conversation_id)).toBeNull();
      live = 77;
      for (let i = 0; i < 100 && (await messages.lastMessageId(conversation_id)) === null; i++) await sleep(50);
      const id = await messages.lastMessageId(conversation_id);
      expect(id).not.toBeNull();
      expect(snowflakeParse(id as string).machine).toBe(partitionOf(conversation_id, log.partition_count));
    } finally {
      await new Promise<void>((ok) => host.stop(ok));
    }
  }, 20_000);
});
