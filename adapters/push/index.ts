/**
 * The push providers: webhook, Web Push, APNs and FCM behind one router by platform, and the
 * errors they reject with.
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
export { PushByPlatform, type PushByPlatformOptions, type PushProviders } from "./push-router.js";
export { PushApns, apnsPayload, apnsCollapseId, APNS_ENDPOINT_PRODUCTION, APNS_ENDPOINT_SANDBOX, type ApnsCredentials, type PushApnsOptions } from "./push-apns.js";
export { PushFcm, fcmMessage, fcmServiceAccount, parseFcmServiceAccount, FCM_ENDPOINT, type FcmServiceAccount, type PushFcmOptions } from "./push-fcm.js";
export { Http2Fetch, type Http2FetchOptions } from "./http2-fetch.js";
