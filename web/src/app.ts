/**
 * The signed-in client: the state the screen shows, the actions the screen calls, and the
 * handling of the client core's effects. Rules of this file:
 *
 * 1. Protocol behaviour is the client core's (through Connection); this file only turns its
 *    effects into state and the user's gestures into its inputs. The frames it sends itself
 *    are the ones the core has no say in: typing, presence subscriptions, and one read ack
 *    for messages that reached this device before this session (model/inbox.ts, rule 2).
 * 2. State changes go through the pure models in model/; every change ends in
 *    `invalidate()`, which redraws once per animation frame.
 * 3. A 401 from any call, or a refused WebSocket whose token no longer works, signs out.
 */
import type { ClientEffect, ClientTarget } from "../../core/client/index.js";
import { directConversationId, directPeer, groupConversationId, parseConversationId } from "../../core/ids/conversation.js";
import { LIMITS } from "../../core/limits.js";
import { msFromIso } from "../../core/model.js";
import type { MessageType, NewMessageData } from "../../core/protocol/frames.js";
import { mediaTypeToDeclare } from "../../core/protocol/media-types.js";
import { inboxApplyPage, inboxEmpty, inboxEnsure, inboxMarkRead, inboxNoteMessage, inboxTotalUnread, type Inbox } from "./model/inbox.js";
import { receiptBookEmpty, receiptRecord, type ReceiptBook, type TickAudience } from "./model/ticks.js";
import {
  newestFromOthers,
  timelineAddLive,
  timelineApplyNewest,
  timelineApplyOlder,
  timelineEmpty,
  timelineHasOlder,
  type Timeline,
} from "./model/timeline.js";
import { typingBookEmpty, typingSeen, typingShouldSend, typingStopped, typingSweep, type TypingBook } from "./model/typing.js";
import { AuthLost, ApiFailure, uploadBytes, type Api, type GroupInfo, type MediaInfo } from "./net/api.js";
import { Connection, type ConnectionPhase } from "./net/connection.js";
import { uuidV4 } from "./net/random.js";
import { loadNames, saveNames, type Session } from "./session.js";

/** A send the server has not confirmed yet: shown at the end of its chat with a clock. */
export type PendingSend = {
  readonly client_msg_id: string;
  readonly conversation_id: string;
  readonly message_type: MessageType;
  /** Text, or the media_id once uploaded. */
  content: string;
  /** For media: the file being uploaded (kept for a retry) and a local preview URL. */
  readonly file: File | null;
  readonly preview_url: string | null;
  /** 0..1 while uploading; null once the bytes are stored. */
  upload_progress: number | null;
  /** A resumable upload begun for this file: a retry continues it where it stopped. */
  upload_id: string | null;
  failed: string | null;
};

export type Presence = { readonly status: "online" | "offline"; readonly last_seen_ms: number | null };

/** How long the banner waits before saying "connecting…", so a quick reconnect does not flash. */
export const BANNER_DELAY_MS = 600;
/** A refused socket checks the token at most this often. */
export const TOKEN_CHECK_INTERVAL_MS = 10_000;

export class App {
  readonly me: Session;
  readonly inbox: Inbox = inboxEmpty();
  inbox_cursor: string | null = null;
  inbox_loaded = false;
  readonly timelines = new Map<string, Timeline>();
  readonly loading_history = new Set<string>();
  readonly history_errors = new Map<string, string>();
  readonly pending = new Map<string, PendingSend[]>();
  readonly receipts: ReceiptBook = receiptBookEmpty();
  readonly groups = new Map<string, GroupInfo>();
  readonly names: Map<string, string>;
  readonly presence = new Map<string, Presence>();
  readonly typing: TypingBook = typingBookEmpty();
  readonly drafts = new Map<string, string>();
  open: string | null = null;
  phase: ConnectionPhase = "idle";
  phase_since_ms = 0;
  notice: string | null = null;

  private readonly connection: Connection;
  private readonly typing_sent_at = new Map<string, number>();
  private readonly read_acked_through = new Map<string, string>();
  private subscribed: string[] = [];
  private readonly names_wanted = new Set<string>();
  private readonly groups_wanted = new Set<string>();
  private readonly media_cache = new Map<string, Promise<MediaInfo>>();
  private typing_timer: ReturnType<typeof setTimeout> | null = null;
  private last_token_check_ms = 0;
  private frame_requested = false;
  private ever_connected = false;

  constructor(
    session: Session,
    readonly api: Api,
    private readonly redraw: () => void,
    private readonly announce: (text: string) => void,
    private readonly signOutNow: (reason: string | null) => void,
  ) {
    this.me = session;
    this.names = loadNames();
    this.names.set(session.user_id, session.username);
    api.onAuthLost = () => this.signOutNow("Your session has ended. Please sign in again.");
    const wsUrl = (): string => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return `${scheme}//${location.host}/ws?token=${encodeURIComponent(session.token)}`;
    };
    this.connection = new Connection(wsUrl, session.user_id, session.device_id, {
      onEffects: (effects) => this.onEffects(effects),
      onPhase: (phase) => this.onPhase(phase),
      onRefused: () => void this.checkToken(),
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------

  async start(): Promise<void> {
    await this.loadInbox(false).catch((e: unknown) => this.fail(e));
    this.connection.start();
    document.addEventListener("visibilitychange", () => this.onVisible());
    window.addEventListener("focus", () => this.onVisible());
  }

  /** Signs this device out on the server too, so its token (kept in localStorage) is dead everywhere. */
  signOut(): void {
    void this.api.signOut();
    this.signOutNow(null);
  }

  stop(): void {
    this.connection.stop();
    if (this.typing_timer !== null) clearTimeout(this.typing_timer);
  }

  /** Asks for one redraw on the next animation frame. */
  invalidate(): void {
    if (this.frame_requested) return;
    this.frame_requested = true;
    requestAnimationFrame(() => {
      this.frame_requested = false;
      this.redraw();
    });
  }

  private fail(e: unknown): void {
    if (e instanceof AuthLost) return; // Already signing out.
    this.notice = e instanceof Error ? e.message : "Something went wrong.";
    this.invalidate();
  }

  get visible(): boolean {
    return document.visibilityState === "visible";
  }

  get totalUnread(): number {
    return inboxTotalUnread(this.inbox);
  }

  /** Whether to show the "connecting…" banner now. */
  bannerShown(now_ms: number): boolean {
    return this.phase !== "connected" && this.phase !== "idle" && now_ms - this.phase_since_ms >= BANNER_DELAY_MS;
  }

  // ---- names, groups, media -------------------------------------------------------------

  nameOf(user_id: string): string {
    const name = this.names.get(user_id);
    if (name !== undefined) return name;
    this.wantName(user_id);
    return `user ${user_id.slice(0, 8)}`;
  }

  private wantName(user_id: string): void {
    if (this.names_wanted.has(user_id)) return;
    this.names_wanted.add(user_id);
    this.api.userById(user_id).then(
      (u) => {
        this.names.set(u.user_id, u.username);
        saveNames(this.names);
        this.invalidate();
      },
      () => {
        // The node may not offer the lookup by ID; the short ID stays.
      },
    );
  }

  group(group_id: string): GroupInfo | null {
    const g = this.groups.get(group_id);
    if (g === undefined) this.wantGroup(group_id);
    return g ?? null;
  }

  private wantGroup(group_id: string, force = false): Promise<void> {
    if (this.groups_wanted.has(group_id) && !force) return Promise.resolve();
    this.groups_wanted.add(group_id);
    return this.api.group(group_id).then(
      (g) => {
        this.groups.set(group_id, g);
        if (this.open === groupConversationId(group_id)) this.subscribePresence();
        this.invalidate();
      },
      (e: unknown) => {
        this.groups_wanted.delete(group_id);
        if (!(e instanceof ApiFailure && e.status === 403)) this.fail(e);
      },
    );
  }

  /** The title of a conversation row or header. */
  titleOf(conversation_id: string): string {
    const item = this.inbox.get(conversation_id);
    const ref = parseConversationId(conversation_id);
    if (item?.kind === "group" || ref?.kind === "group") {
      const group_id = item?.group_id ?? (ref?.kind === "group" ? ref.group_id : null);
      return group_id === null ? "Group" : (this.group(group_id)?.name ?? "Group");
    }
    const peer = this.peerOf(conversation_id);
    return peer === null ? "Chat" : this.nameOf(peer);
  }

  /** The other user of a direct chat. */
  peerOf(conversation_id: string): string | null {
    const item = this.inbox.get(conversation_id);
    if (item?.other_user_id != null) return item.other_user_id;
    const ref = parseConversationId(conversation_id);
    return ref === null ? null : directPeer(ref, this.me.user_id);
  }

  isGroup(conversation_id: string): boolean {
    return conversation_id.startsWith("g.");
  }

  groupIdOf(conversation_id: string): string | null {
    const ref = parseConversationId(conversation_id);
    return ref?.kind === "group" ? ref.group_id : null;
  }

  audienceOf(conversation_id: string): TickAudience {
    const group_id = this.groupIdOf(conversation_id);
    if (group_id === null) return { kind: "direct" };
    return { kind: "group", member_ids: this.group(group_id)?.member_ids ?? null, self: this.me.user_id };
  }

  media(media_id: string, fresh = false): Promise<MediaInfo> {
    let p = fresh ? undefined : this.media_cache.get(media_id);
    if (p === undefined) {
      p = this.api.media(media_id);
      this.media_cache.set(media_id, p);
      p.catch(() => this.media_cache.delete(media_id));
    }
    return p;
  }

  // ---- the inbox ------------------------------------------------------------------------

  async loadInbox(more: boolean): Promise<void> {
    const page = await this.api.inbox(more ? this.inbox_cursor : null);
    inboxApplyPage(this.inbox, page.conversations);
    this.inbox_cursor = page.next_cursor;
    this.inbox_loaded = true;
    if (this.open !== null && this.visible) this.markRead(this.open);
    this.invalidate();
  }

  // ---- opening a chat -------------------------------------------------------------------

  /** Shows a conversation (null: back to the list). */
  openChat(conversation_id: string | null): void {
    if (conversation_id === this.open) return;
    this.unsubscribePresence();
    this.open = conversation_id;
    this.notice = null;
    if (conversation_id === null) {
      this.invalidate();
      return;
    }
    const group_id = this.groupIdOf(conversation_id);
    if (group_id !== null) {
      inboxEnsure(this.inbox, conversation_id, { kind: "group", group_id }, 0);
      void this.wantGroup(group_id);
    } else {
      const peer = this.peerOf(conversation_id);
      if (peer !== null) inboxEnsure(this.inbox, conversation_id, { kind: "direct", other_user_id: peer }, 0);
    }
    const timeline = this.timelineOf(conversation_id);
    if (timeline.history === "none" || timeline.stale) void this.loadNewest(conversation_id);
    this.subscribePresence();
    if (this.visible) this.markRead(conversation_id);
    this.invalidate();
  }

  timelineOf(conversation_id: string): Timeline {
    let t = this.timelines.get(conversation_id);
    if (t === undefined) this.timelines.set(conversation_id, (t = timelineEmpty()));
    return t;
  }

  private async loadNewest(conversation_id: string): Promise<void> {
    if (this.loading_history.has(conversation_id)) return;
    this.loading_history.add(conversation_id);
    this.history_errors.delete(conversation_id);
    this.invalidate();
    try {
      const page = await this.api.history(conversation_id, null, LIMITS.historyPageMessagesDefault);
      timelineApplyNewest(this.timelineOf(conversation_id), page);
      for (const m of page.messages) if (m.from !== this.me.user_id) this.nameOf(m.from);
    } catch (e) {
      if (e instanceof ApiFailure) this.history_errors.set(conversation_id, e.message);
      else this.fail(e);
    } finally {
      this.loading_history.delete(conversation_id);
    }
    if (this.open === conversation_id && this.visible) this.markRead(conversation_id);
    this.invalidate();
  }

  /** Scroll-back: the page before the oldest message held. */
  async loadOlder(conversation_id: string): Promise<void> {
    const timeline = this.timelineOf(conversation_id);
    if (this.loading_history.has(conversation_id) || !timelineHasOlder(timeline)) return;
    const cursor = timeline.older_cursor!;
    this.loading_history.add(conversation_id);
    this.invalidate();
    try {
      const page = await this.api.history(conversation_id, cursor, LIMITS.historyPageMessagesDefault);
      timelineApplyOlder(timeline, cursor, page);
    } catch (e) {
      if (e instanceof ApiFailure) this.history_errors.set(conversation_id, e.message);
      else this.fail(e);
    } finally {
      this.loading_history.delete(conversation_id);
    }
    this.invalidate();
  }

  retryHistory(conversation_id: string): void {
    this.history_errors.delete(conversation_id);
    const t = this.timelineOf(conversation_id);
    if (t.history === "none" || t.stale) void this.loadNewest(conversation_id);
    else void this.loadOlder(conversation_id);
  }

  // ---- presence -------------------------------------------------------------------------

  private presenceTargets(): string[] {
    if (this.open === null) return [];
    const group_id = this.groupIdOf(this.open);
    if (group_id === null) {
      const peer = this.peerOf(this.open);
      return peer === null ? [] : [peer];
    }
    const members = this.groups.get(group_id)?.member_ids ?? [];
    return members.filter((id) => id !== this.me.user_id).slice(0, LIMITS.presenceSubscribeBatchMax);
  }

  private subscribePresence(): void {
    const targets = this.presenceTargets();
    const fresh = targets.filter((id) => !this.subscribed.includes(id));
    if (fresh.length === 0) return;
    if (this.connection.sendDirect({ event: "subscribe_presence", data: { user_ids: fresh } })) this.subscribed.push(...fresh);
  }

  private unsubscribePresence(): void {
    if (this.subscribed.length > 0) this.connection.sendDirect({ event: "unsubscribe_presence", data: { user_ids: this.subscribed } });
    this.subscribed = [];
  }

  // ---- reading --------------------------------------------------------------------------

  /** The chat is on screen: ack what it shows as read and clear its count. */
  markRead(conversation_id: string): void {
    inboxMarkRead(this.inbox, conversation_id);
    if (this.connection.phase !== "connected") return;
    this.connection.feed({ type: "read_requested", conversation_id, now_ms: Date.now() });
    const item = this.inbox.get(conversation_id);
    if (item?.needs_history_read_ack !== true) return;
    const newest = newestFromOthers(this.timelineOf(conversation_id), this.me.user_id);
    if (newest === null) return; // Its page is still loading; we come back when it lands.
    const through = this.read_acked_through.get(conversation_id);
    if (through === undefined || through < newest.message_id) {
      const sent = this.connection.sendDirect({ event: "ack", data: { message_id: newest.message_id, status: "read", conversation_id } });
      if (!sent) return;
      this.read_acked_through.set(conversation_id, newest.message_id);
    }
    item.needs_history_read_ack = false;
  }

  private onVisible(): void {
    if (this.visible && this.open !== null) {
      this.markRead(this.open);
      this.invalidate();
    }
  }

  // ---- sending --------------------------------------------------------------------------

  private targetOf(conversation_id: string): ClientTarget | null {
    const group_id = this.groupIdOf(conversation_id);
    if (group_id !== null) return { kind: "group", group_id };
    const peer = this.peerOf(conversation_id);
    return peer === null ? null : { kind: "direct", to: peer };
  }

  pendingOf(conversation_id: string): PendingSend[] {
    return this.pending.get(conversation_id) ?? [];
  }

  private addPending(p: PendingSend): void {
    const list = this.pending.get(p.conversation_id);
    if (list === undefined) this.pending.set(p.conversation_id, [p]);
    else list.push(p);
  }

  private findPending(client_msg_id: string): PendingSend | null {
    for (const list of this.pending.values()) {
      const p = list.find((x) => x.client_msg_id === client_msg_id);
      if (p !== undefined) return p;
    }
    return null;
  }

  private dropPending(client_msg_id: string): void {
    for (const [conversation_id, list] of this.pending) {
      const at = list.findIndex((x) => x.client_msg_id === client_msg_id);
      if (at < 0) continue;
      const [gone] = list.splice(at, 1);
      if (gone?.preview_url != null) URL.revokeObjectURL(gone.preview_url);
      if (list.length === 0) this.pending.delete(conversation_id);
      return;
    }
  }

  /** Sends text; answers an error sentence, or null when it was queued. */
  sendText(conversation_id: string, text: string): string | null {
    const content = text.trim();
    if (content.length === 0) return null;
    if (content.length > LIMITS.contentCharsMax) return `A message can hold at most ${LIMITS.contentCharsMax} characters; this one has ${content.length}.`;
    const target = this.targetOf(conversation_id);
    if (target === null) return "This chat cannot be written to.";
    const pending: PendingSend = {
      client_msg_id: uuidV4(),
      conversation_id,
      message_type: "text",
      content,
      file: null,
      preview_url: null,
      upload_progress: null,
      upload_id: null,
      failed: null,
    };
    this.addPending(pending);
    this.typing_sent_at.delete(conversation_id);
    this.connection.feed({ type: "send_requested", target, content, message_type: "text", client_msg_id: pending.client_msg_id, now_ms: Date.now() });
    this.invalidate();
    return null;
  }

  /**
   * Uploads a file through pre-signed URLs, then sends its media_id: in one PUT up to
   * LIMITS.mediaBytesMax, in parts above it (a retry resumes with the parts not yet stored).
   */
  sendFile(conversation_id: string, file: File, upload_id: string | null = null): string | null {
    if (file.size === 0) return "That file is empty.";
    if (file.size > LIMITS.mediaResumableBytesMax) return `Files can be at most ${Math.round(LIMITS.mediaResumableBytesMax / 1024 / 1024)} MB.`;
    const image = /^image\/(png|jpeg|gif|webp|avif)$/.test(file.type);
    const pending: PendingSend = {
      client_msg_id: uuidV4(),
      conversation_id,
      message_type: image ? "image" : "file",
      content: "",
      file,
      preview_url: image ? URL.createObjectURL(file) : null,
      upload_progress: 0,
      upload_id,
      failed: null,
    };
    this.addPending(pending);
    void this.upload(pending);
    this.invalidate();
    return null;
  }

  private async upload(pending: PendingSend): Promise<void> {
    const file = pending.file!;
    // The server refuses active types (SVG, HTML): such a file goes as plain bytes.
    const content_type = mediaTypeToDeclare(file.type);
    try {
      const progress = (fraction: number): void => {
        pending.upload_progress = fraction;
        this.invalidate();
      };
      if (file.size > LIMITS.mediaBytesMax) {
        pending.content = await this.uploadInParts(pending, file, content_type, progress);
      } else {
        const created = await this.api.createMedia(content_type, file.size, file.name.slice(0, LIMITS.mediaFilenameCharsMax) || "file");
        await uploadBytes(created.upload_url, file, content_type, progress);
        pending.content = created.media_id;
      }
      pending.upload_progress = null;
    } catch (e) {
      if (e instanceof AuthLost) return;
      pending.failed = e instanceof Error ? e.message : "The upload failed.";
      this.invalidate();
      return;
    }
    const target = this.targetOf(pending.conversation_id);
    if (target === null) return;
    this.connection.feed({
      type: "send_requested",
      target,
      content: pending.content,
      message_type: pending.message_type,
      client_msg_id: pending.client_msg_id,
      now_ms: Date.now(),
    });
    this.invalidate();
  }

  /**
   * A resumable upload: the parts the server does not have yet, one PUT each, then complete.
   * The upload's ID is kept on the pending send first, so a retry after a failure (or a
   * dropped connection) continues it instead of starting over.
   */
  private async uploadInParts(pending: PendingSend, file: File, content_type: string, progress: (fraction: number) => void): Promise<string> {
    let upload = pending.upload_id === null ? null : await this.api.upload(pending.upload_id);
    upload ??= await this.api.createUpload(content_type, file.size, file.name.slice(0, LIMITS.mediaFilenameCharsMax) || "file");
    pending.upload_id = upload.media_id;
    const stored = new Set(upload.uploaded_parts);
    const missing: number[] = [];
    for (let n = 1; n <= upload.parts; n++) if (!stored.has(n)) missing.push(n);
    const partSize = (n: number): number => Math.min(upload.part_bytes, file.size - (n - 1) * upload.part_bytes);
    let sent = upload.uploaded_parts.reduce((sum, n) => sum + partSize(n), 0);
    for (let i = 0; i < missing.length; i += LIMITS.mediaPartUrlsPerRequestMax) {
      // URLs are asked for a batch at a time: they expire 15 minutes after they are signed.
      const batch = await this.api.partUrls(upload.media_id, missing.slice(i, i + LIMITS.mediaPartUrlsPerRequestMax));
      for (const part of batch.parts) {
        const start = (part.part_number - 1) * upload.part_bytes;
        await uploadBytes(part.upload_url, file.slice(start, start + part.size), null, (fraction) => progress((sent + fraction * part.size) / file.size));
        sent += part.size;
      }
    }
    await this.api.completeUpload(upload.media_id);
    return upload.media_id;
  }

  /** A failed send goes again as a new message (the old client_msg_id was refused for good). */
  retrySend(client_msg_id: string): void {
    const old = this.findPending(client_msg_id);
    if (old === null) return;
    this.dropPending(client_msg_id);
    if (old.file !== null && old.upload_progress !== null) this.sendFile(old.conversation_id, old.file, old.upload_id);
    else if (old.message_type === "text") this.sendText(old.conversation_id, old.content);
    else {
      const target = this.targetOf(old.conversation_id);
      if (target === null) return;
      const again: PendingSend = { ...old, client_msg_id: uuidV4(), failed: null, preview_url: null };
      this.addPending(again);
      this.connection.feed({ type: "send_requested", target, content: old.content, message_type: old.message_type, client_msg_id: again.client_msg_id, now_ms: Date.now() });
    }
    this.invalidate();
  }

  discardSend(client_msg_id: string): void {
    this.dropPending(client_msg_id);
    this.invalidate();
  }

  /** The user typed in the composer. */
  typed(conversation_id: string, draft: string): void {
    this.drafts.set(conversation_id, draft);
    if (draft.trim().length === 0) return;
    const now = Date.now();
    if (!typingShouldSend(this.typing_sent_at.get(conversation_id), now)) return;
    const target = this.targetOf(conversation_id);
    if (target === null) return;
    const data = target.kind === "direct" ? { to: target.to } : { group_id: target.group_id };
    if (this.connection.sendDirect({ event: "typing", data })) this.typing_sent_at.set(conversation_id, now);
  }

  // ---- starting chats -------------------------------------------------------------------

  async startDirect(username: string): Promise<void> {
    const name = username.trim().toLowerCase().replace(/^@/, "");
    const user = await this.api.findUser(name).catch((e: unknown) => {
      if (e instanceof ApiFailure && e.status === 404) throw new ApiFailure(404, "NOT_FOUND", `There is no user called “${name}”.`);
      if (e instanceof ApiFailure && e.status === 400) throw new ApiFailure(400, e.code, "Usernames are 3 to 32 characters of a–z, 0–9, “_”, “.” and “-”.");
      throw e;
    });
    if (user.user_id === this.me.user_id) throw new ApiFailure(422, "SELF_MESSAGE", "That is you. Pick someone else to write to.");
    this.names.set(user.user_id, user.username);
    saveNames(this.names);
    const conversation_id = directConversationId(this.me.user_id, user.user_id);
    inboxEnsure(this.inbox, conversation_id, { kind: "direct", other_user_id: user.user_id }, Date.now());
    location.hash = `#/chat/${conversation_id}`;
  }

  async createGroup(name: string, usernames: readonly string[]): Promise<void> {
    const looked = await Promise.all(usernames.map((u) => this.api.findUser(u).then((f) => f, (e: unknown) => (e instanceof ApiFailure && (e.status === 404 || e.status === 400) ? null : Promise.reject(e)))));
    const missing = usernames.filter((_, i) => looked[i] === null);
    if (missing.length > 0) throw new ApiFailure(422, "UNKNOWN_USER", `No user called ${missing.map((m) => `“${m}”`).join(", ")}.`);
    const member_ids: string[] = [];
    for (const f of looked) {
      if (f === null || f.user_id === this.me.user_id || member_ids.includes(f.user_id)) continue;
      member_ids.push(f.user_id);
      this.names.set(f.user_id, f.username);
    }
    saveNames(this.names);
    const created = await this.api.createGroup(name.trim(), member_ids);
    await this.wantGroup(created.group_id, true);
    const conversation_id = groupConversationId(created.group_id);
    inboxEnsure(this.inbox, conversation_id, { kind: "group", group_id: created.group_id }, msFromIso(created.created_at));
    location.hash = `#/chat/${conversation_id}`;
  }

  // ---- the core's effects ---------------------------------------------------------------

  private onPhase(phase: ConnectionPhase): void {
    this.phase = phase;
    this.phase_since_ms = Date.now();
    if (phase === "connected") {
      this.subscribed = [];
      this.subscribePresence();
      if (this.ever_connected || !this.inbox_loaded) this.catchUp();
      this.ever_connected = true;
      if (this.open !== null && this.visible) this.markRead(this.open);
    } else {
      // What we knew of others' presence is stale until the subscriptions are answered again.
      this.presence.clear();
      setTimeout(() => this.invalidate(), BANNER_DELAY_MS + 20);
    }
    this.invalidate();
  }

  /** After a reconnect: the inbox and the open chat again, in case something was missed. */
  private catchUp(): void {
    void this.loadInbox(false).catch((e: unknown) => this.fail(e));
    for (const [conversation_id, t] of this.timelines) {
      if (t.history === "none") continue;
      t.stale = true;
      if (conversation_id === this.open) void this.loadNewest(conversation_id);
    }
  }

  private async checkToken(): Promise<void> {
    const now = Date.now();
    if (now - this.last_token_check_ms < TOKEN_CHECK_INTERVAL_MS) return;
    this.last_token_check_ms = now;
    await this.api.tokenStillValid(); // A 401 signs out through onAuthLost.
  }

  private onEffects(effects: readonly ClientEffect[]): void {
    let readOpen = false;
    for (const effect of effects) {
      switch (effect.type) {
        case "display":
          if (this.onDisplay(effect.message, effect.own)) readOpen = true;
          break;
        case "send_settled":
          if (effect.outcome.kind === "ok") this.dropPending(effect.client_msg_id);
          else {
            const p = this.findPending(effect.client_msg_id);
            if (p !== null) p.failed = effect.outcome.message;
          }
          break;
        case "receipt_changed":
          receiptRecord(this.receipts, effect.receipt.message_id, effect.receipt.user_id ?? null, effect.status);
          break;
        case "presence_changed":
          this.presence.set(effect.user_id, { status: effect.status, last_seen_ms: effect.last_seen === null ? null : msFromIso(effect.last_seen) });
          break;
        case "typing_seen":
          if (effect.from !== this.me.user_id) {
            typingSeen(this.typing, effect.conversation_id, effect.from, Date.now());
            this.scheduleTypingSweep();
          }
          break;
        case "send_frame":
          if (effect.frame.event === "ack" && effect.frame.data.status === "read" && effect.frame.data.conversation_id !== undefined) {
            const c = effect.frame.data.conversation_id;
            const through = this.read_acked_through.get(c);
            if (through === undefined || through < effect.frame.data.message_id) this.read_acked_through.set(c, effect.frame.data.message_id);
          }
          break;
        case "observed":
          if (effect.what !== "duplicate_dropped") console.debug(`chat: ${effect.what}`);
          break;
        case "connect":
        case "disconnect":
        case "set_timer":
          break;
      }
    }
    if (readOpen && this.open !== null) this.markRead(this.open);
    this.invalidate();
  }

  /** Answers whether the open chat got a message from someone else while visible. */
  private onDisplay(message: NewMessageData, own: boolean): boolean {
    const c = message.conversation_id;
    const timeline = this.timelineOf(c);
    timelineAddLive(timeline, message);
    const mine = message.from === this.me.user_id;
    const onScreen = this.open === c && this.visible;
    const ref = parseConversationId(c);
    const peer = ref === null ? null : directPeer(ref, this.me.user_id);
    inboxNoteMessage(this.inbox, this.me.user_id, message, !onScreen, peer);
    if (message.group_id !== undefined) this.group(message.group_id);
    if (own || mine) return false;
    typingStopped(this.typing, c, message.from);
    const who = this.nameOf(message.from);
    if (this.open === c) this.announce(`${who}: ${message.type === "text" ? message.content : message.type === "image" ? "sent a photo" : "sent a file"}`);
    else this.announce(`New message from ${who}`);
    return onScreen;
  }

  private scheduleTypingSweep(): void {
    if (this.typing_timer !== null) clearTimeout(this.typing_timer);
    const next = typingSweep(this.typing, Date.now());
    this.typing_timer =
      next === null
        ? null
        : setTimeout(() => {
            this.typing_timer = null;
            this.scheduleTypingSweep();
            this.invalidate();
          }, next - Date.now() + 10);
  }
}
