/**
 * One key per purpose, derived from the node's SECRET: whoever holds one of them (a webhook
 * receiver holds the webhook key) can do that one thing and nothing else. Each is
 * HKDF-SHA256(SECRET, salt "", info "provable-chat <purpose> v1"), 32 bytes, so every node of a
 * cluster derives the same keys from the same SECRET, and a receiver can derive the webhook
 * key itself (docs/OPERATIONS.md) when PUSH_WEBHOOK_SECRET is not set.
 */
import { hkdfSync } from "node:crypto";

export type Purpose = "tokens" | "media-urls" | "media-ids" | "webhook-signing" | "relay";

export type NodeKeys = { readonly [P in Purpose]: Buffer };

const KEY_BYTES = 32;

export function deriveKey(secret: string | Uint8Array, purpose: Purpose): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "", `provable-chat ${purpose} v1`, KEY_BYTES));
}

export function deriveKeys(secret: string | Uint8Array): NodeKeys {
  return {
    tokens: deriveKey(secret, "tokens"),
    "media-urls": deriveKey(secret, "media-urls"),
    "media-ids": deriveKey(secret, "media-ids"),
    "webhook-signing": deriveKey(secret, "webhook-signing"),
    relay: deriveKey(secret, "relay"),
  };
}
