import { describe, expect, it } from "vitest";
import { describeMessageStoreContract } from "../contract/message-store.contract.js";
import { MessageStoreMemory } from "./message-store-memory.js";
import type { StoredMessage } from "../../core/model.js";

describeMessageStoreContract("MessageStoreMemory", async () => {
  const store = new MessageStoreMemory();
  return { store, cleanup: () => store.close() };
});

const message = (message_id: string, content: string): StoredMessage => ({
  message_id,
  conversation_id: "d.a.b",
  sender_id: "a",
  sender_device_id: "a-dev",
  group_id: null,
  content,
  type: "text",
  client_msg_id: "00000000-0000-4000-8000-000000000001",
  sent_at_ms: 1,
  prev_message_id: null,
});

describe("MessageStoreMemory", () => {
  it("keeps the first write of a message when a second one differs", async () => {
    const store = new MessageStoreMemory();
    await store.putMessage(message("0000000000000000001", "first"));
    await store.putMessage(message("0000000000000000001", "second"));
    expect((await store.getMessage("d.a.b", "0000000000000000001"))?.content).toBe("first");
  });

  it("hands out copies, so a caller cannot change what is stored", async () => {
    const store = new MessageStoreMemory();
    await store.putMessage(message("0000000000000000001", "first"));
    const got = await store.getMessage("d.a.b", "0000000000000000001");
    (got as { content: string }).content = "changed";
    expect((await store.history("d.a.b", null, 1))[0]?.content).toBe("first");
  });

  it("answers an empty page for limit 0 and rejects a negative limit as a caller bug", async () => {
    const store = new MessageStoreMemory();
    await store.putMessage(message("0000000000000000001", "first"));
    expect(await store.history("d.a.b", null, 0)).toEqual([]);
    await expect(store.history("d.a.b", null, -1)).rejects.toThrow(/limit/);
  });

  it("rejects every call once closed", async () => {
    const store = new MessageStoreMemory();
    await store.close();
    await expect(store.lastMessageId("d.a.b")).rejects.toThrow(/closed/);
  });
});
