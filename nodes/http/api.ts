/**
 * The REST half of docs/API.md. Every body and query is decoded with the protocol's zod
 * schemas (a bad one is answered with the contract's error shape and changes nothing), every
 * call but sign-up and sign-in needs a bearer token, and every read of a conversation, group
 * or media is authorized by membership.
 */
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { groupConversationId, parseConversationId } from "../../core/ids/conversation.js";
import { opaqueId } from "../../core/ids/opaque.js";
import type { Limits } from "../../core/limits.js";
import { isoFromMs, toNewMessage, type StoredMessage } from "../../core/model.js";
import { resumablePartLength, type BlobStore, type PartGrant, type ResumableUpload, type ResumableUploads } from "../../core/ports/blob-store.js";
import type { Clock, Random } from "../../core/ports/clock.js";
import type { Directory } from "../../core/ports/directory.js";
import type { MessageStore } from "../../core/ports/message-store.js";
import type { Presence } from "../../core/ports/presence.js";
import { decodeBody, decodeWith } from "../../core/protocol/decode.js";
import { MEDIA_CONTENT_SECURITY_POLICY, mediaServing, mediaTypeAllowed } from "../../core/protocol/media-types.js";
import type { ReceiptStatus } from "../../core/protocol/frames.js";
import * as rest from "../../core/protocol/rest.js";
import { receiptRank } from "../../core/receipts/receipts.js";
import { hashPassword, verifyPassword, type TokenClaims, type Tokens } from "../auth.js";
import type { DeviceSessions } from "../sessions.js";
import { fail, failWith } from "./errors.js";
import { SignInGuard } from "./sign-in-guard.js";
import { Thumbnails } from "./thumbnails.js";

export type ApiServices = {
  readonly directory: Directory;
  readonly messages: MessageStore;
  readonly presence: Presence;
  readonly blobs: BlobStore & ResumableUploads;
  readonly tokens: Tokens;
  readonly clock: Clock;
  readonly random: Random;
  readonly limits: Limits;
  /** How this node is reached from clients, for pre-signed media URLs (known once listening). */
  readonly public_url: () => string;
  readonly rest_burst: number;
  readonly rest_per_second: number;
  /** Which devices are current, and retiring them (sign-out, password change, newest-N). */
  readonly sessions: DeviceSessions;
  /** The deployment's regions and the home region of a user who names none; absent: one region, home_region not recorded. */
  readonly regions?: { readonly names: ReadonlySet<string>; readonly fallback: string };
};

declare module "fastify" {
  interface FastifyRequest {
    claims?: TokenClaims;
  }
}

/** A token bucket per caller for REST: generous for people, firm for floods. */
class RestLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly burst: number,
    private readonly per_second: number,
    private readonly clock: Clock,
  ) {}
  take(key: string): boolean {
    const now = this.clock.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.per_second) / 1000);
    b.at = now;
    if (this.buckets.size > 100_000) this.buckets.clear(); // bounded: a flood of keys resets it
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

export function registerApi(app: FastifyInstance, s: ApiServices): void {
  const limiter = new RestLimiter(s.rest_burst, s.rest_per_second, s.clock);
  const sign_in = new SignInGuard(s.clock);
  const open = new Set(["POST /api/v1/users", "POST /api/v1/sessions"]);

  app.addHook("onRequest", async (req, reply) => {
    if (req.url.startsWith("/media/")) {
      // The pre-signed URLs need no token, so only the address bounds them.
      if (!limiter.take(req.ip)) return fail(reply.header("connection", "close"), "RATE_LIMITED", "Too many requests; retry in a moment.");
      return;
    }
    if (!req.url.startsWith("/api/")) return;
    if (req.routeOptions.url === undefined) return; // No such route: the 404 handler answers.
    const route = `${req.method} ${req.url.split("?")[0]}`;
    if (!limiter.take(req.ip)) return fail(reply, "RATE_LIMITED", "Too many requests; retry in a moment.");
    if (open.has(route)) return;
    const header = req.headers.authorization;
    const token = header !== undefined && header.startsWith("Bearer ") ? header.slice(7) : undefined;
    const check = s.tokens.verify(token, s.clock.now());
    if (!check.ok) return fail(reply, check.code, check.message);
    // A token is only as good as its device: signed out, retired or at a password change,
    // every token of it is refused, on every node (nodes/sessions.ts).
    let current: boolean;
    try {
      current = await s.sessions.current(check.claims.user_id, check.claims.device_id);
    } catch {
      return fail(reply, "STORE_UNAVAILABLE", "Your session could not be checked just now; retry.");
    }
    if (!current) return fail(reply, "TOKEN_REVOKED", "This token's device was signed out (by the user, a password change, or newer sign-ins); sign in again.");
    req.claims = check.claims;
    if (!limiter.take(`u:${check.claims.user_id}`)) return fail(reply, "RATE_LIMITED", "Too many requests; retry in a moment.");
  });

  const me = (req: FastifyRequest): TokenClaims => {
    if (req.claims === undefined) throw new Error("route without authentication");
    return req.claims;
  };
  const body = <S extends import("zod").ZodType>(schema: S, req: FastifyRequest, reply: FastifyReply): import("zod").infer<S> | null => {
    const text = typeof req.body === "string" ? req.body : "";
    if (text === "") {
      failWith(reply, { code: "MALFORMED_JSON", message: "A JSON body is required." });
      return null;
    }
    const decoded = decodeBody(schema, text, s.limits.bodyBytesMax);
    if (!decoded.ok) {
      failWith(reply, decoded.error);
      return null;
    }
    return decoded.value;
  };
  const query = <S extends import("zod").ZodType>(schema: S, req: FastifyRequest, reply: FastifyReply): import("zod").infer<S> | null => {
    const decoded = decodeWith(schema, req.query ?? {}, "query");
    if (!decoded.ok) {
      failWith(reply, decoded.error);
      return null;
    }
    return decoded.value;
  };
  const draw = (): number => s.random.uint32();
  const thumbnails = new Thumbnails(s.blobs, s.clock, s.limits.mediaUrlTtlMs, s.limits.mediaBytesMax);

  // ---- users and sessions ----------------------------------------------------------------

  app.post("/api/v1/users", async (req, reply) => {
    const b = body(rest.createUserBody, req, reply);
    if (b === null) return reply;
    const regions = s.regions ?? null;
    const home_region = b.home_region ?? regions?.fallback;
    if (b.home_region !== undefined && (regions === null || !regions.names.has(b.home_region))) {
      const names = regions === null ? "this deployment has one region and records none" : `this deployment's regions are ${[...regions.names].join(", ")}`;
      return fail(reply, "INVALID_FIELD", `home_region: ${b.home_region} is not a region here (${names}).`);
    }
    const user_id = opaqueId("u", draw);
    const created_at_ms = s.clock.now();
    const hashed = await sign_in.run(`new:${b.username}`, async () => ({ value: await hashPassword(b.password), password_ok: null }));
    if (!hashed.ok) return fail(reply, hashed.refusal.code, hashed.refusal.message);
    const outcome = await s.directory.createUser({ user_id, username: b.username, password_hash: hashed.value, created_at_ms, ...(home_region === undefined ? {} : { home_region }) });
    if (outcome === "username_taken") return fail(reply, "USERNAME_TAKEN", `The username ${b.username} is taken; choose another.`);
    return reply.code(201).send({ user_id, username: b.username, created_at: isoFromMs(created_at_ms), ...(home_region === undefined ? {} : { home_region }) });
  });

  app.post("/api/v1/sessions", async (req, reply) => {
    const b = body(rest.createSessionBody, req, reply);
    if (b === null) return reply;
    const user = await s.directory.userByName(b.username);
    // The same answer and (roughly) the same work whether or not the user exists; the hash
    // work is bounded per account, per address and per node (sign-in-guard.ts).
    const checked = await sign_in.run(b.username, async () => {
      const right = user !== null ? await verifyPassword(b.password, user.password_hash) : (await hashPassword(b.password), false);
      return { value: right, password_ok: right };
    });
    if (!checked.ok) return fail(reply, checked.refusal.code, checked.refusal.message);
    if (!checked.value || user === null) return fail(reply, "BAD_CREDENTIALS", "The username or the password is wrong.");
    return reply.send(await newSession(user.user_id));
  });

  /** A new device and its token; the user's devices beyond the newest N are retired. */
  const newSession = async (user_id: string): Promise<{ token: string; user_id: string; device_id: string; expires_at: string }> => {
    const device_id = opaqueId("d", draw);
    const now = s.clock.now();
    await s.directory.addDevice(user_id, device_id, now);
    await s.sessions.signedIn(user_id);
    const expires_at_ms = now + s.limits.tokenTtlMs;
    const token = s.tokens.issue({ user_id, device_id, expires_at_ms });
    return { token, user_id, device_id, expires_at: isoFromMs(expires_at_ms) };
  };

  /** Sign-out: `current` or one of the caller's own device IDs; its tokens stop working everywhere. */
  app.delete<{ Params: { device_id: string } }>("/api/v1/sessions/:device_id", async (req, reply) => {
    const claims = me(req);
    const device_id = req.params.device_id === "current" ? claims.device_id : req.params.device_id;
    const removed = await s.sessions.retire(claims.user_id, [device_id]);
    if (removed.length === 0) return fail(reply, "NOT_FOUND", `You have no device ${device_id.slice(0, 100)} signed in.`);
    return reply.code(204).send();
  });

  /**
   * Password change: the current password again (throttled like a sign-in, so a stolen token
   * cannot be used to guess it), then every device of the user is signed out, this one
   * included, and the answer is a fresh session for the caller.
   */
  app.put("/api/v1/users/me/password", async (req, reply) => {
    const b = body(rest.changePasswordBody, req, reply);
    if (b === null) return reply;
    const user_id = me(req).user_id;
    const user = await s.directory.userById(user_id);
    if (user === null) return fail(reply, "TOKEN_REVOKED", "This token's user no longer exists; sign in again.");
    const checked = await sign_in.run(user.username, async () => {
      const right = await verifyPassword(b.current_password, user.password_hash);
      return { value: right ? await hashPassword(b.new_password) : null, password_ok: right };
    });
    if (!checked.ok) return fail(reply, checked.refusal.code, checked.refusal.message);
    if (checked.value === null) return fail(reply, "WRONG_PASSWORD", "current_password is not this account's password.");
    await s.directory.setPasswordHash(user_id, checked.value);
    await s.sessions.retireAll(user_id);
    return reply.send(await newSession(user_id));
  });

  app.get("/api/v1/users", async (req, reply) => {
    const q = query(rest.lookupUserQuery, req, reply);
    if (q === null) return reply;
    const user = await s.directory.userByName(q.username);
    if (user === null) return fail(reply, "NOT_FOUND", `No user is called ${q.username}.`);
    return reply.send({ user_id: user.user_id, username: user.username });
  });

  app.get<{ Params: { user_id: string } }>("/api/v1/users/:user_id", async (req, reply) => {
    const user = await s.directory.userById(req.params.user_id);
    if (user === null) return fail(reply, "NOT_FOUND", `No user has ID ${req.params.user_id}.`);
    return reply.send({ user_id: user.user_id, username: user.username });
  });

  app.get<{ Params: { user_id: string } }>("/api/v1/users/:user_id/presence", async (req, reply) => {
    const user = await s.directory.userById(req.params.user_id);
    if (user === null) return fail(reply, "NOT_FOUND", `No user has ID ${req.params.user_id}.`);
    const status = (await s.presence.status([user.user_id])).get(user.user_id) ?? { status: "offline" as const, last_seen_ms: null };
    return reply.send({ status: status.status, last_seen: status.last_seen_ms === null ? null : isoFromMs(status.last_seen_ms) });
  });

  app.post("/api/v1/devices", async (req, reply) => {
    const b = body(rest.registerDeviceBody, req, reply);
    if (b === null) return reply;
    if (b.platform === "webhook" && !/^https?:\/\//.test(b.token)) {
      return fail(reply, "INVALID_FIELD", "token must be an http(s) URL for the webhook platform.");
    }
    if (b.platform === "apns" && !/^(?:[0-9a-fA-F]{2}){32,100}$/.test(b.token)) {
      return fail(reply, "INVALID_FIELD", "token must be the APNs device token in hex (64 to 200 hex digits) for the apns platform.");
    }
    if (b.platform === "fcm" && !/^[A-Za-z0-9_:-]{16,4096}$/.test(b.token)) {
      return fail(reply, "INVALID_FIELD", "token must be the FCM registration token (16 or more characters of [A-Za-z0-9_:-]) for the fcm platform.");
    }
    if (b.platform === "webpush") {
      try {
        const sub = JSON.parse(b.token) as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
        if (typeof sub.endpoint !== "string" || typeof sub.keys?.p256dh !== "string" || typeof sub.keys.auth !== "string") throw new Error("shape");
      } catch {
        return fail(reply, "INVALID_FIELD", "token must be a PushSubscription as JSON ({endpoint, keys: {p256dh, auth}}) for webpush.");
      }
    }
    const user_id = me(req).user_id;
    const existing = await s.directory.pushTargets(user_id);
    const again = existing.some((t) => t.platform === b.platform && t.token === b.token);
    if (!again && existing.length >= s.limits.pushTargetsPerUserMax) {
      return fail(reply, "TOO_MANY_DEVICES", `A user may register at most ${s.limits.pushTargetsPerUserMax} push targets.`);
    }
    await s.directory.registerPush(user_id, { platform: b.platform, token: b.token });
    return reply.code(201).send({ platform: b.platform });
  });

  // ---- conversations ---------------------------------------------------------------------

  const isMemberOf = async (conversation_id: string, user_id: string): Promise<"yes" | "no" | "unknown"> => {
    const ref = parseConversationId(conversation_id);
    if (ref === null) return "unknown";
    if (ref.kind === "direct") return ref.user_ids.includes(user_id) ? "yes" : "no";
    if ((await s.directory.group(ref.group_id)) === null) return "unknown";
    return (await s.directory.isMember(ref.group_id, user_id)) ? "yes" : "no";
  };

  app.get("/api/v1/conversations", async (req, reply) => {
    const q = query(rest.inboxQuery, req, reply);
    if (q === null) return reply;
    const user_id = me(req).user_id;
    const rows = await s.messages.inbox(user_id, q.before ?? null, q.limit);
    const conversations = await Promise.all(
      rows.map(async (row) => {
        const read = await s.messages.readUpTo(user_id, row.conversation_id);
        const unread_count = await s.messages.countAfter(row.conversation_id, read, user_id);
        return {
          conversation_id: row.conversation_id,
          kind: row.kind,
          ...(row.other_user_id !== null ? { other_user_id: row.other_user_id } : {}),
          ...(row.group_id !== null ? { group_id: row.group_id } : {}),
          last_message_preview: row.last_message_preview,
          last_message_at: isoFromMs(row.last_message_at_ms),
          unread_count,
        };
      }),
    );
    const last = rows.at(-1);
    return reply.send({ conversations, next_cursor: rows.length === q.limit && last !== undefined ? last.last_message_id : null });
  });

  app.get<{ Params: { conversation_id: string } }>("/api/v1/conversations/:conversation_id/messages", async (req, reply) => {
    const q = query(rest.historyQuery, req, reply);
    if (q === null) return reply;
    if (q.before !== undefined && !/^\d{19}$/.test(q.before)) return fail(reply, "INVALID_FIELD", "query.before must be a cursor from next_cursor.");
    const user_id = me(req).user_id;
    const member = await isMemberOf(req.params.conversation_id, user_id);
    if (member === "unknown") return fail(reply, "NOT_FOUND", `No conversation has ID ${req.params.conversation_id}.`);
    if (member === "no") return fail(reply, "NOT_A_MEMBER", "You are not a member of this conversation.");
    const page = await s.messages.history(req.params.conversation_id, q.before ?? null, q.limit);
    const messages = await Promise.all(page.map(async (m) => withStatus(m, user_id)));
    const last = page.at(-1);
    return reply.send({ messages, next_cursor: page.length === q.limit && last !== undefined ? last.message_id : null });
  });

  /** For the caller's own messages, the receipt status all recipients have reached. */
  const withStatus = async (m: StoredMessage, user_id: string): Promise<Record<string, unknown>> => {
    const data = toNewMessage(m, isoFromMs);
    if (m.sender_id !== user_id) return data;
    const ref = parseConversationId(m.conversation_id);
    const recipients = ref === null ? [] : ref.kind === "direct" ? ref.user_ids.filter((u) => u !== user_id) : (await s.directory.members(ref.group_id)).filter((u) => u !== user_id);
    const rows = new Map((await s.messages.receipts(m.message_id)).map((r) => [r.user_id, r.status]));
    let status: ReceiptStatus = recipients.length === 0 ? "sent" : "read";
    for (const r of recipients) {
      const st = rows.get(r) ?? "sent";
      if (receiptRank(st) < receiptRank(status)) status = st;
    }
    return { ...data, status };
  };

  // ---- groups ----------------------------------------------------------------------------

  app.post("/api/v1/groups", async (req, reply) => {
    const b = body(rest.createGroupBody, req, reply);
    if (b === null) return reply;
    const creator = me(req).user_id;
    const members = [...new Set([creator, ...b.member_ids])];
    if (members.length > s.limits.groupMembersMax) {
      return fail(reply, "GROUP_TOO_LARGE", `A group holds at most ${s.limits.groupMembersMax} members counting its creator; this one would hold ${members.length}.`);
    }
    const missing = await s.directory.missingUsers(members);
    if (missing.length > 0) return fail(reply, "UNKNOWN_USER", `No user has ID ${missing.slice(0, 5).join(", ")}.`);
    const group_id = opaqueId("g", draw);
    const created_at_ms = s.clock.now();
    await s.directory.createGroup({ group_id, name: b.name, creator_id: creator, created_at_ms }, members);
    return reply.code(201).send({ group_id, conversation_id: groupConversationId(group_id), created_at: isoFromMs(created_at_ms) });
  });

  const memberGroup = async (req: FastifyRequest<{ Params: { group_id: string } }>, reply: FastifyReply) => {
    const group = await s.directory.group(req.params.group_id);
    if (group === null) {
      fail(reply, "NOT_FOUND", `No group has ID ${req.params.group_id}.`);
      return null;
    }
    if (!(await s.directory.isMember(group.group_id, me(req).user_id))) {
      fail(reply, "NOT_A_MEMBER", "You are not a member of this group.");
      return null;
    }
    return group;
  };

  app.get<{ Params: { group_id: string } }>("/api/v1/groups/:group_id", async (req, reply) => {
    const group = await memberGroup(req, reply);
    if (group === null) return reply;
    return reply.send({
      group_id: group.group_id,
      conversation_id: groupConversationId(group.group_id),
      name: group.name,
      creator_id: group.creator_id,
      created_at: isoFromMs(group.created_at_ms),
      member_ids: await s.directory.members(group.group_id),
    });
  });

  app.post<{ Params: { group_id: string } }>("/api/v1/groups/:group_id/members", async (req, reply) => {
    const group = await memberGroup(req, reply);
    if (group === null) return reply;
    const b = body(rest.addMembersBody, req, reply);
    if (b === null) return reply;
    const missing = await s.directory.missingUsers(b.user_ids);
    if (missing.length > 0) return fail(reply, "UNKNOWN_USER", `No user has ID ${missing.slice(0, 5).join(", ")}.`);
    const outcome = await s.directory.addMembers(group.group_id, b.user_ids, s.limits.groupMembersMax);
    if (outcome === "too_large") return fail(reply, "GROUP_TOO_LARGE", `A group holds at most ${s.limits.groupMembersMax} members.`);
    if (outcome === "not_found") return fail(reply, "NOT_FOUND", `No group has ID ${group.group_id}.`);
    return reply.send({ group_id: group.group_id, member_ids: await s.directory.members(group.group_id) });
  });

  app.delete<{ Params: { group_id: string; user_id: string } }>("/api/v1/groups/:group_id/members/:user_id", async (req, reply) => {
    const group = await memberGroup(req, reply);
    if (group === null) return reply;
    const caller = me(req).user_id;
    if (req.params.user_id !== caller && group.creator_id !== caller) {
      return fail(reply, "FORBIDDEN", "Only the group's creator may remove another member.");
    }
    if (!(await s.directory.removeMember(group.group_id, req.params.user_id))) {
      return fail(reply, "NOT_FOUND", `User ${req.params.user_id} is not a member of this group.`);
    }
    return reply.code(204).send();
  });

  // ---- media -----------------------------------------------------------------------------

  app.post("/api/v1/media", async (req, reply) => {
    const b = body(rest.createMediaBody, req, reply);
    if (b === null) return reply;
    if (b.size > s.limits.mediaBytesMax) return fail(reply, "MEDIA_TOO_LARGE", `Media may be at most ${s.limits.mediaBytesMax} bytes.`);
    if (!mediaTypeAllowed(b.content_type)) {
      return fail(reply, "UNSUPPORTED_MEDIA_TYPE", `Media of type ${b.content_type} are not accepted; send the file as application/octet-stream.`);
    }
    const media_id = s.tokens.mediaId(me(req).user_id);
    const expires_at_ms = s.clock.now() + s.limits.mediaUrlTtlMs;
    const path = await s.blobs.presignUpload({ media_id, content_type: b.content_type.toLowerCase(), size: b.size }, expires_at_ms);
    return reply.code(201).send({ media_id, upload_url: absolute(s.public_url(), path), expires_at: isoFromMs(expires_at_ms) });
  });

  app.get<{ Params: { media_id: string } }>("/api/v1/media/:media_id", async (req, reply) => {
    const user_id = me(req).user_id;
    const media_id = req.params.media_id;
    const info = await s.blobs.head(media_id);
    if (info === null) return fail(reply, "NOT_FOUND", `No media has ID ${media_id} (or it was never uploaded).`);
    if (!s.tokens.isUploader(media_id, user_id) && !(await sentToMemberOf(media_id, user_id))) {
      return fail(reply, "FORBIDDEN", "Only the uploader and members of a conversation the media was sent in may fetch it.");
    }
    const expires_at_ms = s.clock.now() + s.limits.mediaUrlTtlMs;
    const download = await s.blobs.presignDownload(media_id, expires_at_ms);
    const thumbnail = await thumbnails.ensure(info);
    return reply.send({
      download_url: absolute(s.public_url(), download),
      content_type: info.content_type,
      size: info.size,
      ...(thumbnail === null
        ? {}
        : thumbnail.ok
          ? { thumbnail_url: absolute(s.public_url(), await s.blobs.presignDownload(thumbnail.media_id, expires_at_ms)) }
          : { thumbnail_error: thumbnail.error }),
    });
  });

  // ---- resumable uploads (docs/API.md "Resumable uploads") ----------------------------------

  app.post("/api/v1/media/uploads", async (req, reply) => {
    const b = body(rest.createUploadBody, req, reply);
    if (b === null) return reply;
    if (b.size > s.limits.mediaResumableBytesMax) return fail(reply, "MEDIA_TOO_LARGE", `A resumable upload may be at most ${s.limits.mediaResumableBytesMax} bytes.`);
    if (!mediaTypeAllowed(b.content_type)) {
      return fail(reply, "UNSUPPORTED_MEDIA_TYPE", `Media of type ${b.content_type} are not accepted; send the file as application/octet-stream.`);
    }
    const media_id = s.tokens.mediaId(me(req).user_id);
    const upload = await s.blobs.startResumable({ media_id, content_type: b.content_type.toLowerCase(), size: b.size }, s.clock.now() + s.limits.mediaResumableTtlMs);
    return reply.code(201).send(uploadAnswer(upload));
  });

  /**
   * The caller's unfinished upload, or the reply already sent (403 for another's media, 404
   * for none). One that has expired is removed at once, with its parts, and is 404 from then.
   */
  const ownUpload = async (req: FastifyRequest<{ Params: { media_id: string } }>, reply: FastifyReply): Promise<ResumableUpload | null> => {
    const media_id = req.params.media_id;
    if (!s.tokens.isUploader(media_id, me(req).user_id)) {
      fail(reply, "FORBIDDEN", "Only the uploader may see or continue an upload.");
      return null;
    }
    const upload = await s.blobs.resumable(media_id);
    if (upload !== null && upload.expires_at_ms <= s.clock.now()) await s.blobs.abortResumable(media_id);
    if (upload === null || upload.expires_at_ms <= s.clock.now()) {
      fail(reply, "NOT_FOUND", `No unfinished upload has ID ${media_id} (it was completed, aborted, or expired).`);
      return null;
    }
    return upload;
  };

  app.get<{ Params: { media_id: string } }>("/api/v1/media/uploads/:media_id", async (req, reply) => {
    const upload = await ownUpload(req, reply);
    return upload === null ? reply : reply.send(uploadAnswer(upload));
  });

  app.post<{ Params: { media_id: string } }>("/api/v1/media/uploads/:media_id/parts", async (req, reply) => {
    const b = body(rest.partUrlsBody, req, reply);
    if (b === null) return reply;
    const upload = await ownUpload(req, reply);
    if (upload === null) return reply;
    const beyond = b.part_numbers.find((n) => n > upload.parts);
    if (beyond !== undefined) return fail(reply, "INVALID_FIELD", `part_numbers: this upload has parts 1 to ${upload.parts}; there is no part ${beyond}.`);
    const expires_at_ms = Math.min(s.clock.now() + s.limits.mediaUrlTtlMs, upload.expires_at_ms);
    const parts: { part_number: number; size: number; upload_url: string }[] = [];
    for (const part_number of b.part_numbers) {
      const url = await s.blobs.presignPart(upload.media_id, part_number, expires_at_ms);
      if (url === null) return fail(reply, "NOT_FOUND", `No unfinished upload has ID ${upload.media_id}.`);
      parts.push({ part_number, size: resumablePartLength(upload.size, upload.part_bytes, part_number) ?? 0, upload_url: absolute(s.public_url(), url) });
    }
    return reply.send({ parts, expires_at: isoFromMs(expires_at_ms) });
  });

  app.post<{ Params: { media_id: string } }>("/api/v1/media/uploads/:media_id/complete", async (req, reply) => {
    const media_id = req.params.media_id;
    if (s.tokens.isUploader(media_id, me(req).user_id)) {
      // Completing again (the answer was lost) answers the same.
      const done = await s.blobs.head(media_id);
      if (done !== null) return reply.send({ media_id, content_type: done.content_type, size: done.size });
    }
    const upload = await ownUpload(req, reply);
    if (upload === null) return reply;
    const missing = missingParts(upload);
    if (missing.length > 0) return fail(reply, "UPLOAD_INCOMPLETE", `Parts ${describeParts(missing)} of ${upload.parts} are not uploaded yet.`);
    const info = await s.blobs.completeResumable(media_id);
    if (info === null) return fail(reply, "UPLOAD_INCOMPLETE", "Some parts are not stored whole yet; ask which with GET and upload them again.");
    void thumbnails.ensure(info);
    return reply.send({ media_id, content_type: info.content_type, size: info.size });
  });

  app.delete<{ Params: { media_id: string } }>("/api/v1/media/uploads/:media_id", async (req, reply) => {
    const upload = await ownUpload(req, reply);
    if (upload === null) return reply;
    await s.blobs.abortResumable(upload.media_id);
    return reply.code(204).send();
  });

  /**
   * Was the media sent in a conversation `user_id` is a member of? The router links a media
   * to each conversation a message carried it in (MessageStore.linkMedia), so this walks
   * those links, not history: no window. Bounded by mediaConversationsCheckedMax.
   */
  const sentToMemberOf = async (media_id: string, user_id: string): Promise<boolean> => {
    const page_max = 100;
    let after: string | null = null;
    for (let checked = 0; checked < s.limits.mediaConversationsCheckedMax; checked += page_max) {
      const page = await s.messages.mediaConversations(media_id, after, page_max);
      for (const conversation_id of page) if ((await isMemberOf(conversation_id, user_id)) === "yes") return true;
      if (page.length < page_max) return false;
      after = page.at(-1)!;
    }
    return false;
  };

  // The pre-signed URLs themselves: no token, the signature is the permission.
  registerUpload(app, s, thumbnails);

  app.get<{ Params: { media_id: string } }>("/media/:media_id/download", async (req, reply) => {
    const granted = await s.blobs.verify("download", req.url, s.clock.now());
    if (granted !== req.params.media_id) return fail(reply, "FORBIDDEN", "The download URL is invalid or has expired.");
    const info = await s.blobs.head(req.params.media_id);
    // Streamed from the store: a resumable upload may be hundreds of MiB.
    const bytes = info === null ? null : await s.blobs.read(req.params.media_id);
    if (info === null || bytes === null) return fail(reply, "NOT_FOUND", "No such media.");
    // Served from this origin, so never as anything a browser would run (core/protocol/media-types.ts).
    const serving = mediaServing(info.content_type);
    return reply
      .type(serving.content_type)
      .header("x-content-type-options", "nosniff")
      .header("content-disposition", serving.disposition)
      .header("content-security-policy", MEDIA_CONTENT_SECURITY_POLICY)
      .header("cross-origin-resource-policy", "same-origin")
      .header("cache-control", "private, max-age=600")
      .header("content-length", String(info.size))
      .send(Readable.from(bytes));
  });
}

/**
 * `PUT /media/{id}/upload` and `PUT /media/{id}/parts/{n}`: everything is checked before a
 * byte of the body is read (the signature, a Content-Length within the declared size, the
 * bound on uploads in flight), and the body is then streamed with the declared size as its
 * cap. A refusal closes the connection, so the unread body is never read. They live in their
 * own scope, the only one whose bodies are not JSON.
 */
function registerUpload(app: FastifyInstance, s: ApiServices, thumbnails: Thumbnails): void {
  let in_flight = 0;
  const by_address = new Map<string, number>();
  /** The size each admitted upload may stream, from its onRequest check to its handler. */
  const declared_size = new WeakMap<FastifyRequest, number>();
  const part_grant = new WeakMap<FastifyRequest, PartGrant>();
  const refuse = (reply: FastifyReply, code: import("../../core/protocol/errors.js").ErrorCode, message: string): FastifyReply =>
    fail(reply.header("connection", "close"), code, message);

  /** Admits a body of at most `declared` bytes within the bounds on uploads in flight; else refuses. */
  const admit = (req: FastifyRequest, reply: FastifyReply, declared: number): FastifyReply | undefined => {
    const length = req.headers["content-length"];
    if (length !== undefined && Number(length) > declared) {
      return refuse(reply, "MEDIA_TOO_LARGE", `The body is ${length} bytes; this upload was declared as ${declared}.`);
    }
    // The address is read now: once the socket is gone (a dropped upload, a refusal that
    // closes it) req.ip is undefined, and the slot would never be given back.
    const ip = req.ip;
    const mine = by_address.get(ip) ?? 0;
    if (mine >= s.limits.uploadsInFlightPerAddressMax) {
      return refuse(reply, "RATE_LIMITED", `At most ${s.limits.uploadsInFlightPerAddressMax} uploads at once from one address; retry when one finishes.`);
    }
    if (in_flight >= s.limits.uploadsInFlightMax) return refuse(reply, "OVERLOADED", "Too many uploads in progress; retry shortly.");
    in_flight++;
    by_address.set(ip, mine + 1);
    reply.raw.once("close", () => {
      in_flight--;
      const left = (by_address.get(ip) ?? 1) - 1;
      if (left <= 0) by_address.delete(ip);
      else by_address.set(ip, left);
    });
    declared_size.set(req, declared);
    return undefined;
  };

  /** The body, read up to the admitted size and no further; null once a refusal is sent. */
  const readBody = async (req: FastifyRequest, reply: FastifyReply): Promise<Buffer | null> => {
    const declared = declared_size.get(req) ?? 0;
    const body = req.body as AsyncIterable<Buffer> | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    if (body !== undefined && body !== null && typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function") {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > declared) {
          refuse(reply, "MEDIA_TOO_LARGE", `The body is larger than the ${declared} bytes this upload was declared as.`);
          return null;
        }
        chunks.push(chunk);
      }
    }
    if (size === 0) {
      fail(reply, "INVALID_FIELD", "The upload body is missing.");
      return null;
    }
    return Buffer.concat(chunks, size);
  };

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    scope.put<{ Params: { media_id: string } }>(
      "/media/:media_id/upload",
      {
        onRequest: async (req, reply) => {
          const granted = await s.blobs.verify("upload", req.url, s.clock.now());
          if (granted === null || granted !== req.params.media_id) return refuse(reply, "FORBIDDEN", "The upload URL is invalid or has expired.");
          const declared = await s.blobs.uploadSize(granted);
          if (declared === null) return refuse(reply, "FORBIDDEN", "The upload URL was used already or its declaration is gone.");
          return admit(req, reply, declared);
        },
      },
      async (req, reply) => {
        const bytes = await readBody(req, reply);
        if (bytes === null) return reply;
        try {
          await s.blobs.put(req.params.media_id, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
        } catch {
          return fail(reply, "FORBIDDEN", "The upload URL was used already or its declaration is gone.");
        }
        // The upload is complete: make its thumbnail now, off the answer's path.
        void s.blobs.head(req.params.media_id).then((info) => (info === null ? null : thumbnails.ensure(info)), () => null);
        return reply.code(201).send({ media_id: req.params.media_id, size: bytes.length });
      },
    );
    // One part of a resumable upload: exactly its length; the same part again replaces it.
    scope.put<{ Params: { media_id: string; part_number: string } }>(
      "/media/:media_id/parts/:part_number",
      {
        onRequest: async (req, reply) => {
          const grant = await s.blobs.verifyPart(req.url, s.clock.now());
          if (grant === null || grant.media_id !== req.params.media_id || String(grant.part_number) !== req.params.part_number) {
            return refuse(reply, "FORBIDDEN", "The part URL is invalid or has expired.");
          }
          part_grant.set(req, grant);
          return admit(req, reply, grant.size);
        },
      },
      async (req, reply) => {
        const grant = part_grant.get(req);
        const bytes = await readBody(req, reply);
        if (bytes === null || grant === undefined) return reply;
        if (bytes.length !== grant.size) return fail(reply, "INVALID_FIELD", `Part ${grant.part_number} must be exactly ${grant.size} bytes; the body was ${bytes.length}.`);
        try {
          await s.blobs.putPart(grant.media_id, grant.part_number, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
        } catch {
          return fail(reply, "NOT_FOUND", "The upload was completed, aborted or has expired.");
        }
        return reply.code(200).send({ media_id: grant.media_id, part_number: grant.part_number, size: grant.size });
      },
    );
  });
}

function uploadAnswer(upload: ResumableUpload): Record<string, unknown> {
  return {
    media_id: upload.media_id,
    content_type: upload.content_type,
    size: upload.size,
    part_bytes: upload.part_bytes,
    parts: upload.parts,
    uploaded_parts: upload.uploaded,
    expires_at: isoFromMs(upload.expires_at_ms),
  };
}

function missingParts(upload: ResumableUpload): number[] {
  const have = new Set(upload.uploaded);
  const missing: number[] = [];
  for (let n = 1; n <= upload.parts; n++) if (!have.has(n)) missing.push(n);
  return missing;
}

/** "2, 5, 6" or, for many, the first ten and how many more. */
function describeParts(numbers: readonly number[]): string {
  const shown = numbers.slice(0, 10).join(", ");
  return numbers.length > 10 ? `${shown} and ${numbers.length - 10} more` : shown;
}

function absolute(base: string, pathOrUrl: string): string {
  if (/^https?:\/\//.test(pathOrUrl)) return pathOrUrl;
  return `${base.replace(/\/$/, "")}${pathOrUrl.startsWith("/") ? "" : "/"}${pathOrUrl}`;
}
