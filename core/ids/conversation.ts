/**
 * Conversation IDs. A direct chat's ID is a function of the sorted pair of user IDs, so both
 * sides and every node compute the same one without coordination; a group's is derived from
 * its group ID. The separator '.' cannot occur in user or group IDs (see protocol/fields),
 * which makes the encoding injective. Clients never compute these: nodes send them.
 */
import { assert } from "../result.js";

export type ConversationRef =
  | { readonly kind: "direct"; readonly conversation_id: string; readonly user_ids: readonly [string, string] }
  | { readonly kind: "group"; readonly conversation_id: string; readonly group_id: string };

export function directConversationId(a: string, b: string): string {
  assert(!a.includes(".") && !b.includes("."), "user IDs never contain '.'");
  const [low, high] = a < b ? [a, b] : [b, a];
  return `d.${low}.${high}`;
}

export function groupConversationId(group_id: string): string {
  assert(!group_id.includes("."), "group IDs never contain '.'");
  return `g.${group_id}`;
}

/** Parses an ID made by the two functions above; null for anything else. */
export function parseConversationId(conversation_id: string): ConversationRef | null {
  const parts = conversation_id.split(".");
  if (parts[0] === "d" && parts.length === 3 && parts[1] && parts[2] && parts[1] < parts[2]) {
    return { kind: "direct", conversation_id, user_ids: [parts[1], parts[2]] };
  }
  if (parts[0] === "g" && parts.length === 2 && parts[1]) {
    return { kind: "group", conversation_id, group_id: parts[1] };
  }
  return null;
}

/** The other member of a direct chat, or null when `user_id` is not one of its two. */
export function directPeer(ref: ConversationRef, user_id: string): string | null {
  if (ref.kind !== "direct") return null;
  if (ref.user_ids[0] === user_id) return ref.user_ids[1];
  if (ref.user_ids[1] === user_id) return ref.user_ids[0];
  return null;
}
