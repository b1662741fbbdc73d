/**
 * permessage-deflate (RFC 7692) on the gateway's WebSocket: the settings, their bounds, and the
 * one place a frame is sent compressed or not. Measured in bench/compression (the table is in
 * docs/BENCHMARKS.md); the defaults follow those numbers.
 *
 * Rules:
 * - Memory per connection is bounded by the window and memLevel, fixed here: zlib's deflate
 *   state is 2^(windowBits+2) + 2^(memLevel+9) bytes, and inflate's 2^windowBits plus about
 *   7 KiB, where the inflate window is the client's: 15 bits, because the server cannot cap it
 *   for every browser (ws refuses the whole upgrade, 400, when it insists on
 *   client_max_window_bits and the client did not offer it, as Firefox does not).
 * - Small frames go uncompressed: deflating 60 bytes costs CPU and saves little. ws applies its
 *   own `threshold` only without context takeover, so the threshold is applied per send here.
 * - zstd has no standard WebSocket extension (only permessage-deflate is registered, RFC 7692),
 *   and browsers offer only permessage-deflate; so deflate it is.
 */
import { z } from "zod";
import type { PerMessageDeflateOptions, WebSocket } from "ws";

export type WsCompression = {
  readonly threshold_chars: number;
  readonly window_bits: number;
  readonly mem_level: number;
  readonly level: number;
  readonly context_takeover: boolean;
};

/** zlib's own formulas (zconf.h) for one connection's deflate and inflate state, in bytes. */
export function compressionMemoryBytes(c: Pick<WsCompression, "window_bits" | "mem_level">): number {
  return 2 ** (c.window_bits + 2) + 2 ** (c.mem_level + 9) + 2 ** CLIENT_WINDOW_BITS + 7 * 1024;
}

/** The client's window, which decides the inflate state: its own choice, 15 bits at most. */
const CLIENT_WINDOW_BITS = 15;

const bool = z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true");

/** The gateway's (and the all-in-one node's) compression variables; docs/OPERATIONS.md. */
export const wsCompressionEnv = {
  /**
   * permessage-deflate for clients that ask for it (browsers do). Off by default: on chat
   * traffic it saves about 60% of the bytes but costs about 3-4x the gateway's CPU per message
   * and ~150 KiB of RSS per connection that has received a compressed frame (bench/compression).
   */
  WS_COMPRESSION: bool.default(false),
  /** Frames shorter than this many characters are sent uncompressed. */
  WS_COMPRESSION_THRESHOLD: z.coerce.number().int().min(0).max(1_048_576).default(128),
  /** LZ77 window, both directions (server_max_window_bits, client_max_window_bits): 9..15. */
  WS_COMPRESSION_WINDOW_BITS: z.coerce.number().int().min(9).max(15).default(12),
  /** zlib memLevel (hash table size): 1..9. */
  WS_COMPRESSION_MEM_LEVEL: z.coerce.number().int().min(1).max(9).default(5),
  /** zlib level: 1 fastest .. 9 smallest. */
  WS_COMPRESSION_LEVEL: z.coerce.number().int().min(1).max(9).default(1),
  /** Keep the LZ77 window between messages (the JSON keys and IDs of earlier frames compress later ones). */
  WS_COMPRESSION_CONTEXT_TAKEOVER: bool.default(true),
  /** Refuse settings whose zlib state per connection exceeds this (bytes). */
  WS_COMPRESSION_MEMORY_MAX_BYTES: z.coerce.number().int().min(48 * 1024).max(1024 * 1024).default(96 * 1024),
};

type Env = { [K in keyof typeof wsCompressionEnv]: z.infer<(typeof wsCompressionEnv)[K]> };

export function wsCompressionRules(env: Env, ctx: z.RefinementCtx): void {
  if (!env.WS_COMPRESSION) return;
  const bytes = compressionMemoryBytes({ window_bits: env.WS_COMPRESSION_WINDOW_BITS, mem_level: env.WS_COMPRESSION_MEM_LEVEL });
  if (bytes > env.WS_COMPRESSION_MEMORY_MAX_BYTES) {
    ctx.addIssue({
      code: "custom",
      path: ["WS_COMPRESSION_WINDOW_BITS"],
      message: `with WS_COMPRESSION_MEM_LEVEL ${env.WS_COMPRESSION_MEM_LEVEL} needs ${bytes} bytes of zlib state per connection, over WS_COMPRESSION_MEMORY_MAX_BYTES (${env.WS_COMPRESSION_MEMORY_MAX_BYTES})`,
    });
  }
}

export function wsCompressionFrom(env: Env): WsCompression | null {
  if (!env.WS_COMPRESSION) return null;
  return {
    threshold_chars: env.WS_COMPRESSION_THRESHOLD,
    window_bits: env.WS_COMPRESSION_WINDOW_BITS,
    mem_level: env.WS_COMPRESSION_MEM_LEVEL,
    level: env.WS_COMPRESSION_LEVEL,
    context_takeover: env.WS_COMPRESSION_CONTEXT_TAKEOVER,
  };
}

/** ws's server option for these settings (false: the extension is declined). */
export function perMessageDeflate(c: WsCompression | null): PerMessageDeflateOptions | false {
  if (c === null) return false;
  return {
    serverMaxWindowBits: c.window_bits,
    serverNoContextTakeover: !c.context_takeover,
    clientNoContextTakeover: !c.context_takeover,
    zlibDeflateOptions: { level: c.level, memLevel: c.mem_level },
    // ws's own threshold (used only without context takeover) agrees with ours.
    threshold: c.threshold_chars,
  };
}

/** Sends `text`, compressed only when the extension was negotiated and the frame is long enough. */
export function sendText(ws: WebSocket, text: string, c: WsCompression | null): void {
  ws.send(text, { compress: c !== null && text.length >= c.threshold_chars });
}
