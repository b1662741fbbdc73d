/**
 * Who must have a message, and who may have it at all. Membership counts "as of when the
 * message was ordered" (INVARIANTS.md 1); the history only bounds that moment by the
 * message's ordering window, so:
 *
 * - a user MUST have it when a member for the whole window (whenever it was ordered, they
 *   were in) — a user who joined or left inside the window is excused, never blamed;
 * - a user MAY have it when a member at some moment of the window (invariant 9 blames only
 *   users who were out for all of it).
 *
 * A device that invoked a send that never came back `ok` is excused from showing it: the
 * sending connection gets no new_message, and whether a client shows an unconfirmed send is
 * the client's business. For an `ok` message the sending device must show it (usually as
 * "own"; any display counts).
 */
import type { DeviceRef, DisplayEvent } from "../history.js";
import { deviceKey } from "../history.js";
import { SEP, type Derived, type MessageFacts } from "./derive.js";
import { coversWindow, touchesWindow } from "./spans.js";

export function memberThroughout(d: Derived, conversation_id: string, user_id: string, low: number, high: number): boolean {
  const spans = d.memberSpans.get(conversation_id)?.get(user_id);
  return spans !== undefined && coversWindow(spans, low, high);
}

export function memberAtSomeMoment(d: Derived, conversation_id: string, user_id: string, low: number, high: number): boolean {
  const spans = d.memberSpans.get(conversation_id)?.get(user_id);
  return spans !== undefined && touchesWindow(spans, low, high);
}

/** Users who must have the message (members for its whole ordering window). */
export function requiredUsers(d: Derived, facts: MessageFacts): string[] {
  const byUser = d.memberSpans.get(facts.conversation_id);
  if (byUser === undefined) return [];
  const users: string[] = [];
  for (const [user_id, spans] of byUser) {
    if (coversWindow(spans, facts.ordered_after, facts.ordered_by)) users.push(user_id);
  }
  return users;
}

/** Devices that must show the message at quiescence. */
export function requiredDevices(d: Derived, facts: MessageFacts): DeviceRef[] {
  const devices: DeviceRef[] = [];
  for (const user_id of requiredUsers(d, facts)) {
    for (const device of d.devicesByUser.get(user_id) ?? []) {
      if (!facts.ok && facts.sending_devices.has(deviceKey(device))) continue;
      devices.push(device);
    }
  }
  return devices;
}

/**
 * Whether `device` must have message `message_id` of `conversation_id` at quiescence. A
 * message neither sent `ok` nor displayed anywhere has an unknown ordering window, so only a
 * member for the whole run must have it.
 */
export function mustHave(d: Derived, conversation_id: string, message_id: string, device: DeviceRef): boolean {
  const facts = d.messages.get(message_id);
  if (facts === undefined) return memberThroughout(d, conversation_id, device.user_id, -Infinity, Infinity);
  if (!facts.ok && facts.sending_devices.has(deviceKey(device))) return false;
  return memberThroughout(d, conversation_id, device.user_id, facts.ordered_after, facts.ordered_by);
}

/** The device's first display of a message, if any. */
export function displayOn(d: Derived, device: DeviceRef, message_id: string): DisplayEvent | undefined {
  return d.firstDisplay.get(deviceKey(device))?.get(message_id);
}

export type MissingDisplay = { readonly facts: MessageFacts; readonly device: DeviceRef };

/**
 * Every (message, device) pair that zero loss requires at quiescence and the device never
 * displayed: each `ok` message on every required device, and each `info` message that some
 * device displayed on every required device (all or none). Invariants 1 and 5 share it.
 * A device disconnected at the end (a user who went offline for good, in a real-cluster
 * run) cannot display anything; for it the message must be held in the pending store
 * instead (final.pending), which is what delivers it when the device comes back, so such a
 * pair counts as missing only when final.pending does not hold it (invariant 7 judges the
 * same pair: nothing may leave the store before its ack). In a simulated run every device
 * is connected at quiescence, so this never applies there.
 * `counted.required` grows by every required pair looked at (what the caller judged).
 */
export function* missingDisplays(d: Derived, counted?: { required: number }): Generator<MissingDisplay> {
  for (const facts of d.messages.values()) {
    if (!facts.ok && !facts.info) continue;
    const shown = d.firstDisplay;
    const devices = requiredDevices(d, facts);
    if (counted !== undefined) counted.required += devices.length;
    for (const device of devices) {
      const key = deviceKey(device);
      if (shown.get(key)?.has(facts.message_id) === true) continue;
      if (!d.connected.has(key) && d.pending.has(key + SEP + facts.message_id)) continue;
      yield { facts, device };
    }
  }
}
