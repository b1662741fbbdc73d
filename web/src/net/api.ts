/**
 * The REST calls of API.md, one function each. Answers are checked with the protocol's own
 * schemas before they reach the page; a 401 anywhere becomes `AuthLost`, which sends the
 * user back to sign-in. Errors carry the server's stable code and its sentence.
 */
import type { z } from "zod";
import { decodeWith } from "../../../core/protocol/decode.js";
import {
  groupCreated,
  groupInfo,
  historyPage,
  inboxPage,
  mediaCreated,
  mediaInfo,
  partUrls,
  uploadCompleted,
  uploadInfo,
  sessionCreated,
  userCreated,
  userFound,
  type GroupInfo,
  type HistoryPage,
  type InboxPage,
  type SessionCreated,
} from "../../../core/protocol/rest.js";

/** The session is gone (expired, revoked, forged): sign in again. */
export class AuthLost extends Error {
  constructor() {
    super("Your session has ended. Please sign in again.");
    this.name = "AuthLost";
  }
}

/** Any other failed call: the server's code and sentence, or ours for a network failure. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiFailure";
  }
}

export type MediaCreated = z.infer<typeof mediaCreated>;
export type MediaInfo = z.infer<typeof mediaInfo>;
export type UploadInfo = z.infer<typeof uploadInfo>;
export type UserFound = z.infer<typeof userFound>;

const BASE = "/api/v1";

export class Api {
  /** Called once per 401, before the call rejects with AuthLost. */
  onAuthLost: () => void = () => {};

  constructor(private token: string | null) {}

  setToken(token: string | null): void {
    this.token = token;
  }

  private async call<S extends z.ZodType>(method: string, path: string, schema: S | null, body?: unknown, authed = true): Promise<z.infer<S>> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (authed && this.token !== null) headers.Authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(BASE + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch {
      throw new ApiFailure(0, "NETWORK", "Cannot reach the server. Check your connection.");
    }
    if (response.status === 401 && authed) {
      this.onAuthLost();
      throw new AuthLost();
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text.length > 0 ? (JSON.parse(text) as unknown) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code = typeof error?.code === "string" ? error.code : `HTTP_${response.status}`;
      const message = typeof error?.message === "string" ? error.message : `The server answered ${response.status}.`;
      throw new ApiFailure(response.status, code, message);
    }
    if (schema === null) return undefined as z.infer<S>;
    const decoded = decodeWith(schema, json);
    if (!decoded.ok) throw new ApiFailure(response.status, "BAD_ANSWER", `The server's answer to ${method} ${path} was not understood: ${decoded.error.message}`);
    return decoded.value;
  }

  signUp(username: string, password: string): Promise<z.infer<typeof userCreated>> {
    return this.call("POST", "/users", userCreated, { username, password }, false);
  }

  signIn(username: string, password: string): Promise<SessionCreated> {
    return this.call("POST", "/sessions", sessionCreated, { username, password }, false);
  }

  findUser(username: string): Promise<UserFound> {
    return this.call("GET", `/users?username=${encodeURIComponent(username)}`, userFound);
  }

  /** Not in API.md yet: a user's name by ID (see the web client's notes). */
  userById(user_id: string): Promise<UserFound> {
    return this.call("GET", `/users/${encodeURIComponent(user_id)}`, userFound);
  }

  inbox(before: string | null, limit = 50): Promise<InboxPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== null) q.set("before", before);
    return this.call("GET", `/conversations?${q.toString()}`, inboxPage);
  }

  history(conversation_id: string, before: string | null, limit = 50): Promise<HistoryPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== null) q.set("before", before);
    return this.call("GET", `/conversations/${encodeURIComponent(conversation_id)}/messages?${q.toString()}`, historyPage);
  }

  createGroup(name: string, member_ids: readonly string[]): Promise<z.infer<typeof groupCreated>> {
    return this.call("POST", "/groups", groupCreated, { name, member_ids });
  }

  group(group_id: string): Promise<GroupInfo> {
    return this.call("GET", `/groups/${encodeURIComponent(group_id)}`, groupInfo);
  }

  createMedia(content_type: string, size: number, filename: string): Promise<MediaCreated> {
    return this.call("POST", "/media", mediaCreated, { content_type, size, filename });
  }

  /** A resumable upload (docs/API.md "Resumable uploads"), for files too large for one PUT. */
  createUpload(content_type: string, size: number, filename: string): Promise<UploadInfo> {
    return this.call("POST", "/media/uploads", uploadInfo, { content_type, size, filename });
  }

  /** Where an upload stands: which parts are stored (null once it is gone or expired). */
  async upload(media_id: string): Promise<UploadInfo | null> {
    try {
      return await this.call("GET", `/media/uploads/${encodeURIComponent(media_id)}`, uploadInfo);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 404) return null;
      throw e;
    }
  }

  partUrls(media_id: string, part_numbers: readonly number[]): Promise<z.infer<typeof partUrls>> {
    return this.call("POST", `/media/uploads/${encodeURIComponent(media_id)}/parts`, partUrls, { part_numbers });
  }

  completeUpload(media_id: string): Promise<z.infer<typeof uploadCompleted>> {
    return this.call("POST", `/media/uploads/${encodeURIComponent(media_id)}/complete`, uploadCompleted);
  }

  media(media_id: string): Promise<MediaInfo> {
    return this.call("GET", `/media/${encodeURIComponent(media_id)}`, mediaInfo);
  }

  /**
   * DELETE /sessions/current: this device's token stops working on every node and its sockets
   * close. Best effort and silent (a 401 here is no news): the page forgets the token anyway.
   */
  async signOut(): Promise<void> {
    if (this.token === null) return;
    const headers = { Authorization: `Bearer ${this.token}` };
    await fetch(`${BASE}/sessions/current`, { method: "DELETE", headers, keepalive: true }).catch(() => undefined);
  }

  /** A cheap authenticated call, to tell a refused WebSocket upgrade (401) from a network fault. */
  async tokenStillValid(): Promise<boolean> {
    try {
      await this.inbox(null, 1);
      return true;
    } catch (e) {
      return !(e instanceof AuthLost);
    }
  }
}

/** PUTs the bytes to a pre-signed URL; no token goes with it. */
export async function uploadBytes(upload_url: string, file: Blob, content_type: string | null, onProgress?: (fraction: number) => void): Promise<void> {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", upload_url);
    // A whole upload's URL signs its Content-Type (S3 checks it); a part's does not.
    if (content_type !== null) xhr.setRequestHeader("Content-Type", content_type);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress !== undefined) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new ApiFailure(xhr.status, "UPLOAD_FAILED", `The upload failed (${xhr.status}).`)));
    xhr.onerror = () => reject(new ApiFailure(0, "NETWORK", "The upload failed: cannot reach the storage."));
    xhr.send(file);
  });
}

export type { GroupInfo, HistoryPage, InboxPage, SessionCreated };
