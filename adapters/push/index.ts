/**
 * The push providers: webhook and Web Push behind one router by platform, and the errors
 * they reject with. APNs and FCM plug into PushByPlatform the same way when written.
 */
export { PushError, PushTargetGone, type PushErrorCode, type PushErrorDetails } from "./errors.js";
export { RETRY_POLICY_DEFAULT, PUSH_TIME_SYSTEM, type RetryPolicy, type PushTime, type FetchFunction } from "./post-with-retry.js";
export { PushWebhook, parseWebhookUrl, verifyWebhookSignature, webhookBody, webhookSignature, type PushWebhookOptions } from "./push-webhook.js";
export {
  PushWebPush,
  generateVapidKeys,
  parseWebPushSubscription,
  webPushPayload,
  type PushWebPushOptions,
  type VapidConfig,
  type VapidKeys,
  type WebPushSubscription,
  type WebPushUrgency,
} from "./push-web.js";
export { PushByPlatform, type PushProviders } from "./push-router.js";
