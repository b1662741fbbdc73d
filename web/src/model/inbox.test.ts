import { describe, expect, it } from "vitest";
import type { NewMessageData } from "../../../core/protocol/frames.js";
import {
  inboxApplyPage,
  inboxEmpty,
  inboxEnsure,
  inboxMarkRead,
  inboxNoteMessage,
  inboxSorted,
  inboxTotalUnread,
  inboxUnread,
  previewOf,
  type InboxEntry,
} from "./inbox.js";

const mid = (n: number): string => String(n).padStart(19, "0");
const at = (minute: number): string => `2026-11-28T10:${String(minute).padStart(2, "0")}:00.000Z`;
const entry = (conversation_id: string, minute: number, unread: number, preview = "hi"): InboxEntry => ({
  conversation_id,
  kind: conversation_id.startsWith("g.") ? "group" : "direct",
  ...(conversation_id.startsWith("g.") ? { group_id: conversation_id.slice(2) } : { other_user_id: "bob" }),
  last_message_preview: preview,
  last_message_at: at(minute),
  unread_count: unread,
});
const message = (n: number, minute: number, from = "bob", conversation_id = "d.alice.bob"): NewMessageData => ({
  message_id: mid(n),
  conversation_id,
  from,
  content: `message ${n}`,
  type: "text",
  sent_at: at(minute),
  client_msg_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
});

describe("inbox", () => {
  it("orders by last activity, newest first", () => {
    const inbox = inboxEmpty();
    inboxApplyPage(inbox, [entry("d.alice.bob", 1, 0), entry("g.g1", 5, 2), entry("d.alice.carol", 3, 0)]);
    expect(inboxSorted(inbox).map((i) => i.conversation_id)).toEqual(["g.g1", "d.alice.carol", "d.alice.bob"]);
    expect(inboxTotalUnread(inbox)).toBe(2);
  });

  it("a live message moves its chat to the top with its preview", () => {
    const inbox = inboxEmpty();
    inboxApplyPage(inbox, [entry("d.alice.bob", 1, 0), entry("g.g1", 5, 0)]);
    inboxNoteMessage(inbox, "alice", message(9, 7), true, null);
    const top = inboxSorted(inbox)[0]!;
    expect(top.conversation_id).toBe("d.alice.bob");
    expect(top.preview).toBe("message 9");
    expect(inboxUnread(top)).toBe(1);
  });

  it("does not count twice a message the server already counted (a pending replay)", () => {
    const inbox = inboxEmpty();
    inboxApplyPage(inbox, [entry("d.alice.bob", 5, 2)]);
    inboxNoteMessage(inbox, "alice", message(1, 4), true, null);
    inboxNoteMessage(inbox, "alice", message(2, 5), true, null);
    expect(inboxUnread(inbox.get("d.alice.bob")!)).toBe(2);
    inboxNoteMessage(inbox, "alice", message(3, 6), true, null);
    expect(inboxUnread(inbox.get("d.alice.bob")!)).toBe(3);
  });

  it("our own messages and messages on screen are not unread", () => {
    const inbox = inboxEmpty();
    inboxNoteMessage(inbox, "alice", message(1, 4, "alice"), true, "bob");
    inboxNoteMessage(inbox, "alice", message(2, 5), false, null);
    const item = inbox.get("d.alice.bob")!;
    expect(inboxUnread(item)).toBe(0);
    expect(item.other_user_id).toBe("bob");
    expect(item.preview).toBe("message 2");
  });

  it("reading clears the count and asks for a history read ack only when the server counted some", () => {
    const inbox = inboxEmpty();
    inboxApplyPage(inbox, [entry("d.alice.bob", 5, 2), entry("d.alice.carol", 5, 0)]);
    inboxNoteMessage(inbox, "alice", message(3, 6), true, null);
    inboxMarkRead(inbox, "d.alice.bob");
    inboxMarkRead(inbox, "d.alice.carol");
    expect(inboxUnread(inbox.get("d.alice.bob")!)).toBe(0);
    expect(inbox.get("d.alice.bob")!.needs_history_read_ack).toBe(true);
    expect(inbox.get("d.alice.carol")!.needs_history_read_ack).toBe(false);
  });

  it("a reload keeps newer live previews and live unread the server cannot have counted", () => {
    const inbox = inboxEmpty();
    inboxApplyPage(inbox, [entry("d.alice.bob", 5, 1, "old")]);
    inboxNoteMessage(inbox, "alice", message(3, 9), true, null);
    inboxApplyPage(inbox, [entry("d.alice.bob", 6, 2, "server")]);
    const item = inbox.get("d.alice.bob")!;
    expect(item.preview).toBe("message 3");
    expect(inboxUnread(item)).toBe(3);
    inboxApplyPage(inbox, [entry("d.alice.bob", 9, 3, "message 3")]);
    expect(inboxUnread(inbox.get("d.alice.bob")!)).toBe(3);
  });

  it("a chat started by username gets an empty row", () => {
    const inbox = inboxEmpty();
    const item = inboxEnsure(inbox, "d.alice.dave", { kind: "direct", other_user_id: "dave" }, 1_000);
    expect(item).toMatchObject({ preview: "", other_user_id: "dave", last_at_ms: 1_000 });
    expect(inboxEnsure(inbox, "d.alice.dave", { kind: "direct", other_user_id: "dave" }, 2_000)).toBe(item);
  });

  it("previews are one short line; media say what they are", () => {
    expect(previewOf("text", "  hello\n  world ")).toBe("hello world");
    expect(previewOf("text", "x".repeat(200))).toHaveLength(80);
    expect(previewOf("image", "m1")).toBe("📷 Photo");
    expect(previewOf("file", "m1")).toBe("📎 File");
  });
});
