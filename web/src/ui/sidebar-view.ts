/**
 * The left pane: who we are, starting a chat or a group, and the conversation list with
 * unread counts and last-message previews. Built once; `update()` redraws the list rows
 * that changed.
 */
import type { App } from "../app.js";
import { listTime, hueOf, initials, parseUsernames, typingText } from "../model/format.js";
import { inboxSorted, inboxUnread, type InboxItem } from "../model/inbox.js";
import { typingActive } from "../model/typing.js";
import { h, reconcile, setChildren } from "./dom.js";
import { icon } from "./icons.js";

export function avatar(name: string, id: string, size: "s" | "m" = "m", dot: "online" | "offline" | null = null): HTMLElement {
  return h(
    "span",
    { class: `avatar avatar-${size}`, style: `--hue:${hueOf(id)}`, "aria-hidden": "true" },
    initials(name),
    dot === null ? null : h("span", { class: `dot dot-${dot}` }),
  );
}

export class SidebarView {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly rows = new Map<string, { el: HTMLElement; signature: string }>();
  private readonly more: HTMLButtonElement;
  private readonly empty: HTMLElement;
  private readonly chatForm: HTMLFormElement;
  private readonly chatError: HTMLElement;
  private readonly dialog: HTMLDialogElement;

  constructor(private readonly app: App) {
    const me = app.me;
    const chatInput = h("input", {
      id: "new-chat-username",
      autocomplete: "off",
      autocapitalize: "none",
      spellcheck: "false",
      placeholder: "username",
      required: true,
      "aria-describedby": "new-chat-error",
    });
    this.chatError = h("p", { class: "form-error", role: "alert", id: "new-chat-error" });
    this.chatForm = h(
      "form",
      { class: "new-chat", hidden: true, "aria-label": "Start a chat" },
      h("label", { for: "new-chat-username" }, "Start a chat with"),
      h("div", { class: "row-input" }, chatInput, h("button", { type: "submit", class: "primary" }, "Start")),
      this.chatError,
    );
    this.chatForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = chatInput.value;
      if (name.trim() === "") return;
      this.chatError.textContent = "";
      app.startDirect(name).then(
        () => {
          chatInput.value = "";
          this.chatForm.hidden = true;
        },
        (err: unknown) => (this.chatError.textContent = err instanceof Error ? err.message : "Could not start the chat."),
      );
    });

    this.dialog = this.groupDialog();
    const newChat = h("button", { type: "button", class: "icon-button", "aria-label": "New chat", title: "New chat", "aria-expanded": "false" }, icon("edit"));
    newChat.addEventListener("click", () => {
      this.chatForm.hidden = !this.chatForm.hidden;
      newChat.setAttribute("aria-expanded", String(!this.chatForm.hidden));
      if (!this.chatForm.hidden) chatInput.focus();
    });
    const newGroup = h("button", { type: "button", class: "icon-button", "aria-label": "New group", title: "New group" }, icon("group"));
    newGroup.addEventListener("click", () => {
      this.dialog.showModal();
      (this.dialog.querySelector("input") as HTMLInputElement | null)?.focus();
    });
    const signOut = h("button", { type: "button", class: "text-button" }, "Sign out");
    signOut.addEventListener("click", () => app.signOut());

    this.list = h("ul", { class: "inbox", role: "list" });
    this.more = h("button", { type: "button", class: "text-button more", hidden: true }, "Show older chats");
    this.more.addEventListener("click", () => void app.loadInbox(true));
    this.empty = h("p", { class: "empty-note", hidden: true }, "No chats yet. Start one with the pencil above, or create a group.");

    this.el = h(
      "aside",
      { class: "sidebar", "aria-label": "Chats" },
      h(
        "header",
        { class: "sidebar-head" },
        avatar(me.username, me.user_id, "s"),
        h("h1", { class: "me" }, h("span", { class: "visually-hidden" }, "Signed in as "), me.username),
        newChat,
        newGroup,
        signOut,
      ),
      this.chatForm,
      h("nav", { class: "inbox-wrap", "aria-label": "Conversations" }, this.list, this.empty, this.more),
      this.dialog,
    );
  }

  private groupDialog(): HTMLDialogElement {
    const nameInput = h("input", { id: "group-name", required: true, maxlength: 128, autocomplete: "off" });
    const members = h("textarea", { id: "group-members", rows: 3, required: true, autocapitalize: "none", spellcheck: "false", "aria-describedby": "group-members-hint group-error" });
    const error = h("p", { class: "form-error", role: "alert", id: "group-error" });
    const create = h("button", { type: "submit", class: "primary" }, "Create group");
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const form = h(
      "form",
      { method: "dialog", class: "group-form" },
      h("h2", { id: "group-title" }, "New group"),
      h("label", { for: "group-name" }, "Group name"),
      nameInput,
      h("label", { for: "group-members" }, "Members"),
      members,
      h("p", { class: "hint", id: "group-members-hint" }, "Usernames, separated by commas or spaces. You are added too."),
      error,
      h("div", { class: "dialog-actions" }, cancel, create),
    );
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "group-title" }, form);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const names = parseUsernames(members.value).filter((n) => n !== this.app.me.username);
      if (nameInput.value.trim() === "") {
        error.textContent = "Give the group a name.";
        return;
      }
      if (names.length === 0) {
        error.textContent = "Add at least one member by username.";
        return;
      }
      error.textContent = "";
      create.disabled = true;
      this.app.createGroup(nameInput.value, names).then(
        () => {
          create.disabled = false;
          nameInput.value = "";
          members.value = "";
          dialog.close();
        },
        (err: unknown) => {
          create.disabled = false;
          error.textContent = err instanceof Error ? err.message : "Could not create the group.";
        },
      );
    });
    return dialog;
  }

  update(now_ms: number): void {
    const app = this.app;
    // A direct chat started by username shows once it has a message or while it is open.
    const items = inboxSorted(app.inbox).filter((i) => i.kind === "group" || i.preview !== "" || i.last_message_id !== null || i.conversation_id === app.open || inboxUnread(i) > 0);
    const rows = items.map((item) => {
      const title = app.titleOf(item.conversation_id);
      const typing = typingActive(app.typing, item.conversation_id, now_ms).map((id) => app.nameOf(id));
      const unread = inboxUnread(item);
      const open = item.conversation_id === app.open;
      const presence = open && item.other_user_id !== null ? (app.presence.get(item.other_user_id)?.status ?? null) : null;
      const preview = typing.length > 0 ? typingText(typing, item.kind === "group") : this.previewText(item);
      const when = listTime(item.last_at_ms, now_ms);
      return { key: item.conversation_id, signature: JSON.stringify([title, preview, typing.length > 0, unread, open, presence, when]), item, title, preview, typing: typing.length > 0, unread, open, presence, when };
    });
    reconcile(this.list, this.rows, rows, (r) => {
      const label = `${r.title}${r.unread > 0 ? `, ${r.unread} unread` : ""}`;
      return h(
        "li",
        {},
        h(
          "a",
          { class: `chat-row${r.open ? " open" : ""}${r.unread > 0 ? " unread" : ""}`, href: `#/chat/${r.key}`, "aria-current": r.open ? "page" : null, "aria-label": label },
          avatar(r.title, r.item.group_id ?? r.item.other_user_id ?? r.key, "m", r.presence),
          h(
            "span",
            { class: "chat-row-text" },
            h("span", { class: "chat-row-top" }, h("span", { class: "chat-row-title" }, r.title), h("span", { class: "chat-row-time" }, r.when)),
            h(
              "span",
              { class: "chat-row-bottom" },
              h("span", { class: `chat-row-preview${r.typing ? " typing" : ""}${r.preview === "" ? " none" : ""}` }, r.preview || (r.item.kind === "group" ? "No messages yet" : "\u00a0")),
              r.unread > 0 ? h("span", { class: "badge", "aria-hidden": "true" }, r.unread > 999 ? "999+" : String(r.unread)) : null,
            ),
          ),
        ),
      );
    });
    this.more.hidden = app.inbox_cursor === null;
    this.empty.hidden = !app.inbox_loaded || rows.length > 0;
  }

  private previewText(item: InboxItem): string {
    if (item.preview === "") return "";
    if (item.preview_from === this.app.me.user_id) return `You: ${item.preview}`;
    if (item.kind === "group" && item.preview_from !== null) return `${this.app.nameOf(item.preview_from)}: ${item.preview}`;
    return item.preview;
  }

  /** Empties the list (sign-out). */
  clear(): void {
    setChildren(this.list);
    this.rows.clear();
  }
}
