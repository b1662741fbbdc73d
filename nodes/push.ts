/**
 * Push providers from the environment, for every node that routes (the all-in-one node and
 * the production router): webhook always, Web Push with VAPID keys, APNs with a .p8 key,
 * FCM with a service-account key file. A platform left unconfigured refuses its targets per
 * notification (PUSH_NO_PROVIDER); a registration a provider calls gone is deleted.
 *
 * Validation: the variables are checked with zod at start (a provider half configured is
 * refused with a sentence naming what is missing), and the key files are read and parsed
 * at start too, so a bad key stops the node at once, not at the first notification.
 */
import { deriveKey } from "./keys.js";
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Directory } from "../core/ports/directory.js";
import type { Push } from "../core/ports/push.js";
import { APNS_ENDPOINT_PRODUCTION, PushApns } from "../adapters/push/push-apns.js";
import { FCM_ENDPOINT, parseFcmServiceAccount, PushFcm } from "../adapters/push/push-fcm.js";
import { PushByPlatform, type PushProviders } from "../adapters/push/push-router.js";
import { PushWebPush } from "../adapters/push/push-web.js";
import { PushWebhook } from "../adapters/push/push-webhook.js";

const bool = z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true");
const appleId = z.string().regex(/^[A-Z0-9]{10}$/, "must be Apple's 10-character ID");

export const pushTargetsEnv = {
  /** Comma-separated CIDRs push may reach although private (`10.0.0.0/8,fd00::/8`); none by default. */
  PUSH_PRIVATE_TARGETS_ALLOWED: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((c) => c.trim()).filter((c) => c !== ""))
    .refine((cidrs) => cidrs.every((c) => /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(c)), "must be comma-separated CIDRs such as 10.0.0.0/8"),
};

export const pushEnv = z.object({
  /** Characters of message text a push notification may carry (0: none). */
  PUSH_PREVIEW_CHARS: z.coerce.number().int().min(0).max(200).default(0),
  /** Only a wake-up through APNs and FCM: no sender, conversation or text leaves the node. */
  PUSH_CONTENT_FREE: bool.default(false),
  /** The key webhook receivers verify with; derived from SECRET for that purpose alone when unset (nodes/keys.ts). */
  PUSH_WEBHOOK_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  ...pushTargetsEnv,
  VAPID_PUBLIC_KEY: z.string().min(1).optional(),
  VAPID_PRIVATE_KEY: z.string().min(1).optional(),
  VAPID_SUBJECT: z.string().min(1).default("mailto:admin@localhost"),
  /** Extra trusted certificates (PEM file) for reaching Web Push endpoints; for a local stand-in only. */
  WEBPUSH_CA_FILE: z.string().min(1).optional(),
  /** APNs token authentication: the .p8 key file, its key ID, the team ID, the app's bundle ID. */
  APNS_KEY_FILE: z.string().min(1).optional(),
  APNS_KEY_ID: appleId.optional(),
  APNS_TEAM_ID: appleId.optional(),
  APNS_TOPIC: z.string().regex(/^[A-Za-z0-9.-]{1,255}$/, "must be the app's bundle ID").optional(),
  /** https://api.push.apple.com, or https://api.sandbox.push.apple.com for development builds. */
  APNS_ENDPOINT: z.url({ protocol: /^https$/ }).default(APNS_ENDPOINT_PRODUCTION),
  /** Extra trusted certificates (PEM file) for reaching APNS_ENDPOINT; for a local stand-in only. */
  APNS_CA_FILE: z.string().min(1).optional(),
  /** FCM HTTP v1: the service account's JSON key file (Firebase console → Service accounts). */
  FCM_SERVICE_ACCOUNT_FILE: z.string().min(1).optional(),
  FCM_ENDPOINT: z.url({ protocol: /^https?$/ }).default(FCM_ENDPOINT),
});

export type PushConfig = z.infer<typeof pushEnv>;

const APNS_VARIABLES = ["APNS_KEY_FILE", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC"] as const;

/** The all-or-none rules the object schema cannot say; add with `.superRefine(pushEnvRules)`. */
export function pushEnvRules(env: Partial<PushConfig>, ctx: z.RefinementCtx): void {
  const apns = APNS_VARIABLES.filter((name) => env[name] !== undefined);
  if (apns.length > 0 && apns.length < APNS_VARIABLES.length) {
    for (const name of APNS_VARIABLES.filter((n) => env[n] === undefined)) ctx.addIssue({ code: "custom", path: [name], message: `is required with ${apns.join(", ")} (APNs needs all four)` });
  }
  if ((env.VAPID_PUBLIC_KEY === undefined) !== (env.VAPID_PRIVATE_KEY === undefined)) {
    ctx.addIssue({ code: "custom", path: [env.VAPID_PUBLIC_KEY === undefined ? "VAPID_PUBLIC_KEY" : "VAPID_PRIVATE_KEY"], message: "is required with the other VAPID key" });
  }
}

/** The node's Push: every configured provider behind PushByPlatform; gone registrations are deleted from `directory`. */
export function openPush(config: PushConfig, secret: string, directory: Directory): Push {
  const include_preview = config.PUSH_PREVIEW_CHARS > 0;
  const providers: { -readonly [P in keyof PushProviders]: PushProviders[P] } = {
    webhook: new PushWebhook({ secret: config.PUSH_WEBHOOK_SECRET ?? deriveKey(secret, "webhook-signing"), private_targets_allowed: config.PUSH_PRIVATE_TARGETS_ALLOWED }),
  };
  if (config.VAPID_PUBLIC_KEY !== undefined && config.VAPID_PRIVATE_KEY !== undefined) {
    providers.webpush = new PushWebPush({
      vapid: { public_key: config.VAPID_PUBLIC_KEY, private_key: config.VAPID_PRIVATE_KEY, subject: config.VAPID_SUBJECT },
      include_preview,
      private_targets_allowed: config.PUSH_PRIVATE_TARGETS_ALLOWED,
      ...(config.WEBPUSH_CA_FILE === undefined ? {} : { ca: readConfigFile("WEBPUSH_CA_FILE", config.WEBPUSH_CA_FILE) }),
    });
  }
  if (config.APNS_KEY_FILE !== undefined && config.APNS_KEY_ID !== undefined && config.APNS_TEAM_ID !== undefined && config.APNS_TOPIC !== undefined) {
    providers.apns = new PushApns({
      key_id: config.APNS_KEY_ID,
      team_id: config.APNS_TEAM_ID,
      topic: config.APNS_TOPIC,
      private_key: readConfigFile("APNS_KEY_FILE", config.APNS_KEY_FILE),
      endpoint: config.APNS_ENDPOINT,
      content_free: config.PUSH_CONTENT_FREE,
      include_preview,
      ...(config.APNS_CA_FILE === undefined ? {} : { ca: readConfigFile("APNS_CA_FILE", config.APNS_CA_FILE) }),
    });
  }
  if (config.FCM_SERVICE_ACCOUNT_FILE !== undefined) {
    providers.fcm = new PushFcm({
      service_account: parseFcmServiceAccount(readConfigFile("FCM_SERVICE_ACCOUNT_FILE", config.FCM_SERVICE_ACCOUNT_FILE)),
      endpoint: config.FCM_ENDPOINT,
      content_free: config.PUSH_CONTENT_FREE,
      include_preview,
    });
  }
  return new PushByPlatform(providers, { unregister: (user_id, target) => directory.unregisterPush(user_id, target) });
}

function readConfigFile(variable: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new Error(`Invalid configuration: ${variable}: cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
