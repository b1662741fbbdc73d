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
import type { Derived, MessageFacts } from "./derive.js";
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
 */
export function* missingDisplays(d: Derived): Generator<MissingDisplay> {
  for (const facts of d.messages.values()) {
    if (!facts.ok && !facts.info) continue;
    const shown = d.firstDisplay;
    for (const device of requiredDevices(d, facts)) {
      if (shown.get(deviceKey(device))?.has(facts.message_id) !== true) yield { facts, device };
    }
  }
}
