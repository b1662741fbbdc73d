/**
 * Regions: a region is a set of gateways, routers, a relay and a log of their own, with the
 * stores beside them. Every user has a home region: their sessions, their pending entries and
 * the gateways their devices connect to are there. Every conversation has an ordering region,
 * and only that region's log and routers order it.
 *
 * Why the conversation's home region orders it, and a send from elsewhere is forwarded there
 * (appended to that region's log) instead of being ordered where it was sent:
 * - One order (invariant 3) and sender FIFO (invariant 4) need one sequencer per
 *   conversation. Message IDs carry a router's clock; two regions numbering the same
 *   conversation would interleave by clock, and the floor that keeps IDs rising (the last
 *   stored ID) and the dedup claims that keep a retry from becoming two messages (invariant
 *   5) would live in two stores. Agreeing on them across a WAN per message is consensus; one
 *   ordering region is not.
 * - The cost is explicit and bounded: a sender homed elsewhere pays one WAN round trip per
 *   send, and while the ordering region is lost or cut off from the sender, their sends to
 *   that conversation are unanswered (`info`, retried with the same client_msg_id, never
 *   lost or doubled: the claim dedups). Nothing else in the sender's region stalls.
 * - The ordering region is a pure function of the conversation ID and data every node has
 *   (user -> home region, a group's creator), so no node asks anyone where to forward.
 *   A direct chat is ordered in the home region of its lower user ID (both sides compute
 *   the same one); a group in its creator's home region.
 */
import { parseConversationId } from "../ids/conversation.js";

export type RegionMap = {
  /** A user's home region; users not mapped live in `fallback`. */
  readonly homeOf: (user_id: string) => string;
  /** A group's creator, or null when the group is unknown (then `fallback` orders it). */
  readonly creatorOf: (group_id: string) => string | null;
  readonly fallback: string;
};

/** The region whose log and routers order `conversation_id`. */
export function orderingRegion(map: RegionMap, conversation_id: string): string {
  const ref = parseConversationId(conversation_id);
  if (ref === null) return map.fallback;
  if (ref.kind === "direct") return map.homeOf(ref.user_ids[0]);
  const creator = map.creatorOf(ref.group_id);
  return creator === null ? map.fallback : map.homeOf(creator);
}
