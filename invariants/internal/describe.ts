/**
 * How violations name things, so every checker's sentences read alike and a test (or a
 * person grepping a report) finds a message by its ID and a device as user/device.
 */
import type { DeviceRef } from "../history.js";
import { deviceKey } from "../history.js";

export function dev(device: DeviceRef): string {
  return deviceKey(device);
}

/** "message 000…42 (client_msg_id c-7)"; either part may be unknown. */
export function msg(message_id: string | null, client_msg_id?: string | null): string {
  if (message_id === null) return `send client_msg_id ${client_msg_id ?? "?"}`;
  return client_msg_id === undefined || client_msg_id === null ? `message ${message_id}` : `message ${message_id} (client_msg_id ${client_msg_id})`;
}

/** At most `shown` items, then "and N more". */
export function list(items: readonly string[], shown = 5): string {
  if (items.length <= shown) return items.join(", ");
  return `${items.slice(0, shown).join(", ")} and ${items.length - shown} more`;
}
