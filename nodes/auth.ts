/**
 * Passwords and tokens. Passwords are hashed with scrypt (salted, memory-hard, from
 * node:crypto) and compared in constant time. Tokens are `v1.<payload>.<mac>`: a base64url
 * JSON payload {u: user, d: device, e: expiry ms} and an HMAC-SHA256 of it under the token
 * key (nodes/keys.ts: derived from the node's secret for tokens alone), so they cannot be
 * forged or altered and they expire; verifying one needs no store. Media IDs prove their
 * uploader with a key of their own. Revocation before expiry is by device: a token is
 * refused once its device is gone from the directory (nodes/sessions.ts).
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { deriveKey } from "./keys.js";

const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** scrypt's cost N for new hashes (a power of two); lower only for load tests that sign up thousands. */
let scrypt_cost: number = SCRYPT.N;
export function setPasswordHashCost(n: number): void {
  if (!Number.isInteger(Math.log2(n)) || n < 1024) throw new Error(`PASSWORD_HASH_COST must be a power of two of at least 1024, got ${n}`);
  scrypt_cost = n;
}
const KEY_BYTES = 32;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, KEY_BYTES, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash`, all parameters kept so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, { ...SCRYPT, N: scrypt_cost });
  return `scrypt$${scrypt_cost}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64url");
  const key = await scrypt(password, Buffer.from(salt, "base64url"), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Far above any token this node issues (~200 characters); longer is not one of ours. */
const TOKEN_CHARS_MAX = 1_024;

/** Whether `text` is unpadded base64url that re-encodes to itself (canonical). */
function canonicalBase64url(text: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(text) && Buffer.from(text, "base64url").toString("base64url") === text;
}

export type TokenClaims = { readonly user_id: string; readonly device_id: string; readonly expires_at_ms: number };

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; code: "UNAUTHENTICATED" | "TOKEN_EXPIRED"; message: string };

export class Tokens {
  private readonly token_key: Buffer;
  private readonly media_key: Buffer;

  /** `secret`: the node's SECRET; the keys for tokens and media IDs are derived from it. */
  constructor(secret: string | Uint8Array) {
    this.token_key = deriveKey(secret, "tokens");
    this.media_key = deriveKey(secret, "media-ids");
  }

  private mac(payload: string): Buffer {
    return createHmac("sha256", this.token_key).update(`v1.${payload}`).digest();
  }

  issue(claims: TokenClaims): string {
    const payload = Buffer.from(JSON.stringify({ u: claims.user_id, d: claims.device_id, e: claims.expires_at_ms })).toString("base64url");
    return `v1.${payload}.${this.mac(payload).toString("base64url")}`;
  }

  verify(token: string | undefined | null, now_ms: number): TokenCheck {
    if (token === undefined || token === null || token === "") return { ok: false, code: "UNAUTHENTICATED", message: "A bearer token is required." };
    const parts = token.split(".");
    if (token.length > TOKEN_CHARS_MAX || parts.length !== 3 || parts[0] !== "v1" || !canonicalBase64url(parts[1]!) || !canonicalBase64url(parts[2]!)) {
      // One spelling per token: no trailing characters, no padding, no spare bits set in the
      // last character (they would decode to the same bytes and pass the MAC check).
      return { ok: false, code: "UNAUTHENTICATED", message: "The token is malformed." };
    }
    const payload = parts[1]!;
    const given = Buffer.from(parts[2]!, "base64url");
    const expected = this.mac(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, code: "UNAUTHENTICATED", message: "The token's signature is invalid." };
    let claims: { u?: unknown; d?: unknown; e?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as typeof claims;
    } catch {
      return { ok: false, code: "UNAUTHENTICATED", message: "The token is malformed." };
    }
    if (typeof claims.u !== "string" || typeof claims.d !== "string" || typeof claims.e !== "number") {
      return { ok: false, code: "UNAUTHENTICATED", message: "The token is malformed." };
    }
    if (claims.e <= now_ms) return { ok: false, code: "TOKEN_EXPIRED", message: "The token has expired; sign in again." };
    return { ok: true, claims: { user_id: claims.u, device_id: claims.d, expires_at_ms: claims.e } };
  }

  /** A media ID that proves its uploader without a store: `m<random>_<mac(uploader, random)>`. */
  mediaId(uploader_id: string): string {
    const random = randomBytes(12).toString("base64url").replace(/[^A-Za-z0-9]/g, "x");
    return `m${random}_${this.mediaMac(uploader_id, random)}`;
  }

  isUploader(media_id: string, user_id: string): boolean {
    const m = /^m([A-Za-z0-9]+)_([A-Za-z0-9_-]+)$/.exec(media_id);
    if (m === null) return false;
    const expected = Buffer.from(this.mediaMac(user_id, m[1]!));
    const given = Buffer.from(m[2]!);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mediaMac(uploader_id: string, random: string): string {
    return createHmac("sha256", this.media_key).update(`media.${uploader_id}.${random}`).digest("base64url").slice(0, 16).replace(/[^A-Za-z0-9]/g, "x");
  }
}
