/**
 * Push: notifications to a user's phones or browsers while it has no live connection
 * (webhook and Web Push providers; APNs and FCM plug in behind the same port).
 *
 * Contract (adapters/contract/push.contract.ts checks it): notify resolves once the
 * provider accepted the notification and rejects when it did not; it never throws
 * synchronously. Push is best effort: the pending store, not push, guarantees delivery.
 */
import type { PushNotification, PushTarget } from "../model.js";

export interface Push {
  notify(target: PushTarget, notification: PushNotification): Promise<void>;
}
