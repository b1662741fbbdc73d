/** Presence: heartbeats with a TTL, subscribe-on-view, last seen. The public surface of the room. */
export { presenceInit, presenceClone, LAPSES_SLACK } from "./state.js";
export type { PresenceCoreState, PresenceConfig, UserRecord, ConnectionRecord, LapseEntry } from "./state.js";
export { presenceStep } from "./step.js";
export type {
  PresenceInput,
  HeartbeatReceived,
  ConnectionClosed,
  TimePassed,
  Subscribed,
  Unsubscribed,
  SubscriberGone,
  PresenceEffect,
  NotifySubscriber,
  SetTimer,
  SubscriptionRefused,
  SubscriptionRefusedReason,
  PresenceStepResult,
} from "./step.js";
export { presenceOf } from "./query.js";
