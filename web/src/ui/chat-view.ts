/**
 * The right pane: one conversation. Header (name, presence dot, typing), the messages
 * (sorted by message_id, day dividers, ticks on our own), the sends still pending, and the
 * composer. Rules:
 *
 * 1. Message nodes are kept across redraws (dom.reconcile), so images load once and the
 *    scroll position holds. Older pages are prepended with the view held still; new
 *    messages scroll into view only when the reader was already at the bottom.
 * 2. Reaching the top asks the app for the page before the oldest message held; a page that
 *    does not fill the pane asks for the next.
 */
import type { App, PendingSend } from "../app.js";
import { msFromIso } from "../../../core/model.js";
import { byteSize, clockTime, dayKey, dayLabel, presenceText, typingText } from "../model/format.js";
import { ownStatus, tickLabel } from "../model/ticks.js";
import type { ChatMessage } from "../model/timeline.js";
import { timelineHasOlder } from "../model/timeline.js";
import { typingActive } from "../model/typing.js";
import { h, linkified, reconcile, setChildren, type Child } from "./dom.js";
import { icon } from "./icons.js";
import { avatar } from "./sidebar-view.js";

/** Within this many pixels of the top, the next older page is fetched. */
const LOAD_OLDER_WITHIN_PX = 200;
/** Within this many pixels of the bottom, the reader counts as "at the bottom". */
const AT_BOTTOM_WITHIN_PX = 80;

type Row =
  | { key: string; signature: string; kind: "top"; text: string; retry: boolean }
  | { key: string; signature: string; kind: "day"; text: string }
  | { key: string; signature: string; kind: "message"; message: ChatMessage; own: boolean; sender: string | null; status: string | null }
  | { key: string; signature: string; kind: "pending"; pending: PendingSend };

export class ChatView {
  readonly el: HTMLElement;
  private shown: string | null = null;
  private readonly headerAvatar: HTMLElement;
  private readonly title: HTMLElement;
  private readonly subtitle: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly nodes = new Map<string, { el: HTMLElement; signature: string }>();
  private readonly text: HTMLTextAreaElement;
  private readonly fileInput: HTMLInputElement;
  private readonly composerError: HTMLElement;
  private readonly placeholder: HTMLElement;
  private readonly pane: HTMLElement;
  private readonly jump: HTMLButtonElement;
  /** message_id -> its calendar day: formatting every message on every redraw adds up. */
  private readonly days = new Map<string, string>();
  private atBottom = true;
  private stickOnNextUpdate = false;

  constructor(private readonly app: App) {
    this.headerAvatar = h("span", { class: "header-avatar" });
    this.title = h("h2", { class: "chat-title", id: "chat-title" });
    this.subtitle = h("p", { class: "chat-subtitle" });
    const back = h("a", { class: "back icon-button", href: "#/", "aria-label": "Back to chats" }, icon("back"));
    this.list = h("ol", { class: "messages", "aria-labelledby": "chat-title" });
    this.scroller = h("div", { class: "scroller", tabindex: "0", "aria-label": "Messages" }, this.list);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.jump = h("button", { type: "button", class: "jump", hidden: true, "aria-label": "Jump to the newest message" }, "↓");
    this.jump.addEventListener("click", () => this.scrollToBottom());

    this.text = h("textarea", { id: "composer-text", rows: 1, placeholder: "Message", maxlength: 4096, "aria-describedby": "composer-error" });
    this.fileInput = h("input", { type: "file", class: "visually-hidden", id: "composer-file", tabindex: "-1", "aria-hidden": "true" });
    const attach = h("button", { type: "button", class: "icon-button attach", "aria-label": "Attach a photo or file", title: "Attach a photo or file" }, icon("attach"));
    const send = h("button", { type: "submit", class: "send", "aria-label": "Send" }, icon("send"));
    this.composerError = h("p", { class: "form-error composer-error", role: "alert", id: "composer-error" });
    const composer = h(
      "form",
      { class: "composer", "aria-label": "Write a message" },
      attach,
      this.fileInput,
      h("label", { for: "composer-text", class: "visually-hidden" }, "Message"),
      this.text,
      send,
    );
    attach.addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => {
      for (const file of this.fileInput.files ?? []) this.sendFile(file);
      this.fileInput.value = "";
    });
    composer.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.text.addEventListener("input", () => {
      this.grow();
      if (this.shown !== null) this.app.typed(this.shown, this.text.value);
    });

    this.pane = h(
      "section",
      { class: "chat", "aria-labelledby": "chat-title" },
      h("header", { class: "chat-head" }, back, this.headerAvatar, h("div", { class: "chat-head-text" }, this.title, this.subtitle)),
      h("div", { class: "scroller-wrap" }, this.scroller, this.jump),
      this.composerError,
      composer,
    );
    this.pane.addEventListener("dragover", (e) => {
      if (e.dataTransfer?.types.includes("Files") === true) e.preventDefault();
    });
    this.pane.addEventListener("drop", (e) => {
      e.preventDefault();
      for (const file of e.dataTransfer?.files ?? []) this.sendFile(file);
    });
    this.placeholder = h("div", { class: "no-chat" }, h("p", {}, "Pick a chat on the left, or start a new one."));
    this.el = h("main", { class: "chat-pane" }, this.placeholder, this.pane);
  }

  private submit(): void {
    if (this.shown === null) return;
    const problem = this.app.sendText(this.shown, this.text.value);
    this.composerError.textContent = problem ?? "";
    if (problem !== null) return;
    this.text.value = "";
    this.app.drafts.delete(this.shown);
    this.grow();
    this.stickOnNextUpdate = true;
  }

  private sendFile(file: File): void {
    if (this.shown === null) return;
    const problem = this.app.sendFile(this.shown, file);
    this.composerError.textContent = problem ?? "";
    this.stickOnNextUpdate = true;
  }

  private grow(): void {
    this.text.style.height = "auto";
    this.text.style.height = `${Math.min(this.text.scrollHeight, 160)}px`;
  }

  private onScroll(): void {
    const s = this.scroller;
    this.atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < AT_BOTTOM_WITHIN_PX;
    this.jump.hidden = s.scrollHeight - s.scrollTop - s.clientHeight < s.clientHeight;
    if (s.scrollTop < LOAD_OLDER_WITHIN_PX && this.shown !== null) void this.app.loadOlder(this.shown);
  }

  private scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.atBottom = true;
    this.jump.hidden = true;
  }

  update(now_ms: number): void {
    const app = this.app;
    const c = app.open;
    this.placeholder.hidden = c !== null;
    this.pane.hidden = c === null;
    if (c !== this.shown) {
      if (this.shown !== null) app.drafts.set(this.shown, this.text.value);
      this.shown = c;
      setChildren(this.list);
      this.nodes.clear();
      this.days.clear();
      this.composerError.textContent = "";
      this.text.value = c === null ? "" : (app.drafts.get(c) ?? "");
      this.grow();
      this.stickOnNextUpdate = true;
      if (c !== null && window.matchMedia("(min-width: 720px)").matches) queueMicrotask(() => this.text.focus());
    }
    if (c === null) return;

    this.updateHeader(c, now_ms);

    const s = this.scroller;
    const before = { height: s.scrollHeight, top: s.scrollTop, first: this.firstMessageKey() };
    const wasAtBottom = this.atBottom;
    reconcile(this.list, this.nodes, this.rows(c), (row) => this.build(row));
    const first = this.firstMessageKey();
    if (this.stickOnNextUpdate || wasAtBottom) {
      this.scrollToBottom();
      this.stickOnNextUpdate = false;
    } else if (before.first !== null && first !== before.first) {
      // Older messages went in above: keep what the reader looks at where it was.
      s.scrollTop = before.top + (s.scrollHeight - before.height);
    }
    const timeline = app.timelineOf(c);
    if (!app.loading_history.has(c) && timelineHasOlder(timeline) && !app.history_errors.has(c) && s.scrollHeight <= s.clientHeight + LOAD_OLDER_WITHIN_PX) {
      void app.loadOlder(c);
    }
  }

  private firstMessageKey(): string | null {
    return this.list.querySelector(".msg[data-key]")?.getAttribute("data-key") ?? null;
  }

  private updateHeader(c: string, now_ms: number): void {
    const app = this.app;
    const title = app.titleOf(c);
    const typing = typingActive(app.typing, c, now_ms).map((id) => app.nameOf(id));
    const group_id = app.groupIdOf(c);
    let subtitle: string;
    let dot: "online" | "offline" | null = null;
    if (group_id === null) {
      const peer = app.peerOf(c);
      const p = peer === null ? undefined : app.presence.get(peer);
      dot = p?.status ?? null;
      subtitle = typing.length > 0 ? typingText(typing, false) : presenceText(p?.status ?? null, p?.last_seen_ms ?? null, now_ms);
    } else {
      const g = app.group(group_id);
      if (typing.length > 0) subtitle = typingText(typing, true);
      else if (g === null) subtitle = "";
      else {
        const others = g.member_ids.filter((id) => id !== app.me.user_id);
        const online = others.filter((id) => app.presence.get(id)?.status === "online").length;
        const names = ["You", ...others.slice(0, 5).map((id) => app.nameOf(id))].join(", ") + (others.length > 5 ? ` and ${others.length - 5} more` : "");
        subtitle = `${names}${online > 0 ? ` · ${online} online` : ""}`;
      }
    }
    const signature = JSON.stringify([title, dot, c]);
    if (this.headerAvatar.dataset.signature !== signature) {
      this.headerAvatar.dataset.signature = signature;
      setChildren(this.headerAvatar, avatar(title, group_id ?? app.peerOf(c) ?? c, "m", dot));
      this.title.textContent = title;
    }
    this.subtitle.textContent = subtitle;
    this.subtitle.classList.toggle("typing", typing.length > 0);
  }

  private rows(c: string): Row[] {
    const app = this.app;
    const timeline = app.timelineOf(c);
    const rows: Row[] = [];
    const loading = app.loading_history.has(c);
    const error = app.history_errors.get(c);
    const topText =
      error !== undefined
        ? `Could not load messages: ${error}`
        : loading
          ? "Loading messages…"
          : timeline.history === "complete"
            ? timeline.messages.length === 0 && app.pendingOf(c).length === 0
              ? "No messages yet. Say hello!"
              : "This is the start of the conversation."
            : "";
    rows.push({ key: "top", signature: `${topText}|${error !== undefined}`, kind: "top", text: topText, retry: error !== undefined });
    const group = app.isGroup(c);
    const audience = app.audienceOf(c);
    const now = Date.now();
    let day = "";
    let previousFrom = "";
    for (const m of timeline.messages) {
      let key = this.days.get(m.message_id);
      if (key === undefined) this.days.set(m.message_id, (key = dayKey(msFromIso(m.sent_at))));
      if (key !== day) {
        day = key;
        previousFrom = "";
        const text = dayLabel(msFromIso(m.sent_at), now);
        rows.push({ key: `d:${key}`, signature: text, kind: "day", text });
      }
      const own = m.from === app.me.user_id;
      const sender = group && !own && m.from !== previousFrom ? app.nameOf(m.from) : null;
      const status = own ? ownStatus(app.receipts, m.message_id, audience, m.status) : null;
      previousFrom = m.from;
      rows.push({ key: `m:${m.message_id}`, signature: `${sender ?? ""}|${status ?? ""}`, kind: "message", message: m, own, sender, status });
    }
    for (const p of app.pendingOf(c)) {
      rows.push({ key: `p:${p.client_msg_id}`, signature: `${p.failed ?? ""}|${p.upload_progress === null ? "" : Math.round(p.upload_progress * 20)}`, kind: "pending", pending: p });
    }
    return rows;
  }

  private build(row: Row): HTMLElement {
    switch (row.kind) {
      case "top": {
        const retry = row.retry ? h("button", { type: "button", class: "text-button" }, "Try again") : null;
        retry?.addEventListener("click", () => this.shown !== null && this.app.retryHistory(this.shown));
        return h("li", { class: "list-top", role: "presentation" }, row.text, retry === null ? null : " ", retry);
      }
      case "day":
        return h("li", { class: "day", role: "separator" }, h("span", {}, row.text));
      case "message":
        return this.buildMessage(row.message, row.own, row.sender, row.status);
      case "pending":
        return this.buildPending(row.pending);
    }
  }

  private buildMessage(m: ChatMessage, own: boolean, sender: string | null, status: string | null): HTMLElement {
    const at = msFromIso(m.sent_at);
    const tick = status === null ? null : tickLabel(status as "sent" | "delivered" | "read");
    return h(
      "li",
      { class: `msg ${own ? "own" : "theirs"}${sender !== null ? " first" : ""}`, "data-key": `m:${m.message_id}` },
      h(
        "div",
        { class: `bubble${m.type === "image" ? " media" : ""}` },
        sender === null ? null : h("span", { class: "sender" }, sender),
        own ? h("span", { class: "visually-hidden" }, "You:") : null,
        this.body(m.type, m.content),
        h(
          "span",
          { class: "meta" },
          h("time", { datetime: m.sent_at }, clockTime(at)),
          tick === null ? null : icon(tick.glyph, tick.label, tick.className),
        ),
      ),
    );
  }

  private buildPending(p: PendingSend): HTMLElement {
    let body: Child;
    if (p.message_type === "text") body = h("span", { class: "text" }, ...linkified(p.content));
    else if (p.preview_url !== null) body = h("img", { class: "photo", src: p.preview_url, alt: "Photo being sent" });
    else body = h("span", { class: "file" }, icon("file"), ` ${p.file?.name ?? "File"} · ${byteSize(p.file?.size ?? 0)}`);
    let state: HTMLElement;
    if (p.failed !== null) {
      const retry = h("button", { type: "button", class: "text-button" }, "Retry");
      const discard = h("button", { type: "button", class: "text-button" }, "Discard");
      retry.addEventListener("click", () => this.app.retrySend(p.client_msg_id));
      discard.addEventListener("click", () => this.app.discardSend(p.client_msg_id));
      state = h("span", { class: "failed" }, icon("warn", "Not sent"), ` Not sent: ${p.failed} `, retry, discard);
    } else if (p.upload_progress !== null) {
      state = h("span", { class: "meta" }, h("progress", { max: 1, value: p.upload_progress, "aria-label": "Uploading" }));
    } else {
      state = h("span", { class: "meta" }, icon("clock", "Sending", "tick tick-pending"));
    }
    return h("li", { class: "msg own pending" }, h("div", { class: `bubble${p.message_type === "image" ? " media" : ""}` }, body, state));
  }

  private body(type: string, content: string): HTMLElement {
    if (type === "text") return h("span", { class: "text" }, ...linkified(content));
    const app = this.app;
    if (type === "image") {
      const img = h("img", { class: "photo loading", alt: "Photo", loading: "lazy", decoding: "async" });
      const link = h("a", { class: "photo-link", target: "_blank", rel: "noopener noreferrer", "aria-label": "Open photo" }, img);
      let retried = false;
      const load = (fresh: boolean): void => {
        app.media(content, fresh).then(
          (info) => {
            img.src = info.download_url;
            link.href = info.download_url;
          },
          () => {
            img.alt = "Photo could not be loaded";
            img.classList.remove("loading");
            img.classList.add("broken");
          },
        );
      };
      img.addEventListener("load", () => {
        img.classList.remove("loading");
        if (this.atBottom) this.scrollToBottom();
      });
      img.addEventListener("error", () => {
        // Download URLs expire: ask for a fresh one once.
        if (retried || img.getAttribute("src") === null) return;
        retried = true;
        load(true);
      });
      load(false);
      return link;
    }
    const label = h("span", {}, " File");
    const link = h("a", { class: "file", target: "_blank", rel: "noopener noreferrer", download: "" }, icon("file"), label);
    app.media(content).then(
      (info) => {
        link.href = info.download_url;
        label.textContent = ` ${info.content_type.split("/")[1]?.toUpperCase() ?? "File"} file · ${byteSize(info.size)}`;
      },
      () => (label.textContent = " File (unavailable)"),
    );
    return link;
  }
}
