/**
 * MediaUrlSigner: the pre-signed media URLs every BlobStore that serves its own bytes shares
 * (BlobStoreMemory, BlobStoreLocal), so one host route serves either.
 *
 * URL form: `${base_url}/media/${media_id}/upload?expires=<unix ms>&sig=<hex>` and the same
 * with `/download`, and `/parts/<n>` for part n of a resumable upload (the part number is
 * signed too). The signature is HMAC-SHA256 under the secret over the action, the expiry
 * and the media_id, so it can neither be forged nor moved to another media_id, another action
 * or a later expiry. A store may also bind a `binding` string (BlobStoreLocal binds an upload
 * to its declared size and content type): the URL does not carry it, the store looks it up
 * again when it verifies, so a URL stops working when the declaration it was signed for is
 * replaced.
 *
 * Rules:
 * - parse never throws (URLs come from clients); it accepts canonical decimals only, so one
 *   expiry has one spelling, and a 64-digit lower-case hex signature only.
 * - check compares signatures in constant time, and before the expiry, so that timing says
 *   nothing about which of the two failed.
 * - The origin and any path before `/media/` are not signed, so a host may pass the request
 *   path alone.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { SignedAction } from "../../core/ports/blob-store.js";
import { assert } from "../../core/result.js";

/** Secrets shorter than this are refused at construction: HMAC-SHA256 wants a full-size key. */
export const SIGNING_SECRET_BYTES_MIN = 32;

const SIGNATURE_HEX_PATTERN = /^[0-9a-f]{64}$/;
/** Canonical decimals only, so one expiry has one spelling. */
const EXPIRES_PATTERN = /^(0|[1-9][0-9]{0,15})$/;
const PATH_PATTERN = /\/media\/([^/]+)\/(upload|download|parts\/([1-9][0-9]{0,4}))$/;

/** What a URL grants: a whole upload, a download, or one part of a resumable upload. */
export type UrlAction = SignedAction | "part";

/** What a media URL claims, before its signature is checked. */
export type ParsedMediaUrl = {
  readonly action: UrlAction;
  readonly media_id: string;
  /** For a part URL, the part (1-based); null otherwise. */
  readonly part_number: number | null;
  readonly expires_at_ms: number;
  readonly signature: Buffer;
};

export class MediaUrlSigner {
  private readonly base_url: string;
  private readonly secret: Buffer;
  private readonly owner: string;

  /**
   * `base_url` without a trailing slash (one is stripped), e.g. `http://127.0.0.1:8080`;
   * `secret` at least 32 bytes; `owner` names the store in assertion messages.
   */
  constructor(owner: string, base_url: string, secret: string | Uint8Array) {
    this.owner = owner;
    this.base_url = base_url.replace(/\/+$/, "");
    this.secret = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
    assert(this.secret.length >= SIGNING_SECRET_BYTES_MIN, `${owner}: the secret must be at least ${SIGNING_SECRET_BYTES_MIN} bytes`);
  }

  /** The signed URL granting `action` on `media_id` until `expires_at_ms` (exclusive). */
  url(action: SignedAction, media_id: string, expires_at_ms: number, binding: string | null = null): string {
    assert(Number.isSafeInteger(expires_at_ms) && expires_at_ms >= 0, `${this.owner}: expires_at_ms must be a non-negative integer, got ${expires_at_ms}`);
    const sig = this.sign(action, media_id, expires_at_ms, binding, null).toString("hex");
    return `${this.base_url}/media/${encodeURIComponent(media_id)}/${action}?expires=${expires_at_ms}&sig=${sig}`;
  }

  /** The signed URL granting one PUT of part `part_number` of `media_id`, bound to `binding`. */
  partUrl(media_id: string, part_number: number, expires_at_ms: number, binding: string): string {
    assert(Number.isSafeInteger(expires_at_ms) && expires_at_ms >= 0, `${this.owner}: expires_at_ms must be a non-negative integer, got ${expires_at_ms}`);
    assert(Number.isInteger(part_number) && part_number >= 1 && part_number <= 99_999, `${this.owner}: part_number must be 1..99999, got ${part_number}`);
    const sig = this.sign("part", media_id, expires_at_ms, binding, part_number).toString("hex");
    return `${this.base_url}/media/${encodeURIComponent(media_id)}/parts/${part_number}?expires=${expires_at_ms}&sig=${sig}`;
  }

  /** What `url` claims, or null when it is not a media URL of the documented form. */
  parse(url: string): ParsedMediaUrl | null {
    let parsed: URL;
    try {
      parsed = new URL(url, "http://relative.invalid");
    } catch {
      return null;
    }
    const path = PATH_PATTERN.exec(parsed.pathname);
    if (path === null) return null;
    const action: UrlAction = path[2] === "upload" ? "upload" : path[2] === "download" ? "download" : "part";
    const part_number = path[3] === undefined ? null : Number(path[3]);
    let media_id: string;
    try {
      media_id = decodeURIComponent(path[1] ?? "");
    } catch {
      return null;
    }
    const expires = parsed.searchParams.get("expires");
    const sig = parsed.searchParams.get("sig");
    if (expires === null || sig === null || !EXPIRES_PATTERN.test(expires) || !SIGNATURE_HEX_PATTERN.test(sig)) return null;
    return { action, media_id, part_number, expires_at_ms: Number(expires), signature: Buffer.from(sig, "hex") };
  }

  /**
   * The media_id that `claim` grants for `action` at `now_ms`, or null. `binding` must be the
   * one the URL was signed with (null for none).
   */
  check(claim: ParsedMediaUrl, action: UrlAction, now_ms: number, binding: string | null = null): string | null {
    if (claim.action !== action) return null;
    const expected = this.sign(claim.action, claim.media_id, claim.expires_at_ms, binding, claim.part_number);
    // Check the signature before the expiry so that timing says nothing about which failed.
    if (claim.signature.length !== expected.length || !timingSafeEqual(claim.signature, expected)) return null;
    return now_ms < claim.expires_at_ms ? claim.media_id : null;
  }

  private sign(action: UrlAction, media_id: string, expires_at_ms: number, binding: string | null, part_number: number | null): Buffer {
    // Newline separators cannot occur in an action or a decimal, and the media_id comes last,
    // so fields cannot run together. A binding goes in as JSON (no raw newline, delimited by
    // quotes) under a distinct first line, so a bound and an unbound input never coincide; a
    // part's first line names its number, so no part's signature fits another part.
    const input =
      action === "part"
        ? `part ${part_number ?? 0}\n${expires_at_ms}\n${JSON.stringify(binding ?? "")}\n${media_id}`
        : binding === null
          ? `${action}\n${expires_at_ms}\n${media_id}`
          : `${action}+bound\n${expires_at_ms}\n${JSON.stringify(binding)}\n${media_id}`;
    return createHmac("sha256", this.secret).update(input).digest();
  }
}
