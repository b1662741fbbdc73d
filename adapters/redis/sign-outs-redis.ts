/**
 * Sign-outs between production nodes: the api node that retires a device (nodes/sessions.ts)
 * publishes it, and every gateway closes that device's open sockets (4001). One channel for
 * all users: sign-outs are rare, and a gateway would otherwise subscribe per user.
 *
 * Rules:
 * - The message is `{"u": user_id, "d": [device_id, ...]}`; anything else on the channel is
 *   ignored (never thrown: it arrives on the subscriber's event, with no caller to tell).
 * - Pub/sub is at most once: a gateway whose subscriber is reconnecting misses a sign-out, and
 *   the socket stays open until it closes on its own. Its token is refused everywhere anyway
 *   (REST and every new upgrade check the directory), so what is lost is only the immediacy.
 * - The subscriber connection is this adapter's own (a duplicate of the client it is given, a
 *   single Redis or a Cluster); close() quits it.
 */
import { isCluster, type RedisClient } from "./client.js";

export const SIGN_OUT_CHANNEL = "chat:signed-out";
/** Devices per message at most: a password change retires at most the user's devices. */
const DEVICES_PER_MESSAGE_MAX = 1_000;

/** `channel`: SIGN_OUT_CHANNEL but in tests, which share a Redis with running clusters. */
export async function publishSignOut(redis: RedisClient, user_id: string, device_ids: readonly string[], channel = SIGN_OUT_CHANNEL): Promise<void> {
  await redis.publish(channel, JSON.stringify({ u: user_id, d: device_ids.slice(0, DEVICES_PER_MESSAGE_MAX) }));
}

/** Decodes one message of the channel; null for anything that is not a sign-out. */
export function decodeSignOut(message: string): { user_id: string; device_ids: string[] } | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { u, d } = value as { u?: unknown; d?: unknown };
  if (typeof u !== "string" || !Array.isArray(d) || d.length > DEVICES_PER_MESSAGE_MAX || !d.every((x) => typeof x === "string")) return null;
  return { user_id: u, device_ids: d as string[] };
}

export async function subscribeSignOuts(
  redis: RedisClient,
  on_sign_out: (user_id: string, device_ids: readonly string[]) => void,
  on_error: (error: unknown) => void = () => undefined,
  channel = SIGN_OUT_CHANNEL,
): Promise<{ close(): Promise<void> }> {
  // Classic pub/sub on a Redis Cluster reaches every node's subscribers (PUBLISH is broadcast),
  // so one subscriber on any node hears every sign-out.
  const subscriber = isCluster(redis) ? redis.duplicate(undefined, { enableAutoPipelining: false }) : redis.duplicate({ enableAutoPipelining: false });
  subscriber.on("error", on_error);
  subscriber.on("message", (name: string, message: string) => {
    if (name !== channel) return;
    const signed_out = decodeSignOut(message);
    if (signed_out !== null) on_sign_out(signed_out.user_id, signed_out.device_ids);
  });
  await subscriber.subscribe(channel);
  return {
    close: async () => {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
