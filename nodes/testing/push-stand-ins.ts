/**
 * Local stand-ins for APNs and FCM (adapters/push/*-test-server.ts) and a webhook receiver,
 * started for a node under test, with the key files and the environment that point the node
 * at them (webhooks on 127.0.0.1 need PUSH_PRIVATE_TARGETS_ALLOWED, which the env sets).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApnsTestServer, selfSignedCertificate } from "../../adapters/push/apns-test-server.js";
import { generateVapidKeys, type VapidKeys } from "../../adapters/push/push-web.js";
import { FcmTestServer } from "../../adapters/push/fcm-test-server.js";
import { Receiver } from "../../adapters/push/test-support.js";

export type PushStandIns = {
  readonly apns: ApnsTestServer;
  readonly fcm: FcmTestServer;
  /** Answers each hook path as scripted (404 unless told), and records every POST. */
  readonly webhook: Receiver;
  /** A Web Push service over https (a certificate the node trusts through WEBPUSH_CA_FILE), scripted the same way. */
  readonly webpush: Receiver;
  /** The node's VAPID keys: the service checks the JWT against the public one. */
  readonly vapid: VapidKeys;
  /** The node's push variables (nodes/push.ts). */
  readonly env: Record<string, string>;
  close(): Promise<void>;
};

/** Starts both stand-ins; writes their key and certificate files into `dir`. */
export async function startPushStandIns(dir: string): Promise<PushStandIns> {
  const apns = await ApnsTestServer.start();
  const fcm = await FcmTestServer.start();
  const webhook = await Receiver.start();
  const tls = selfSignedCertificate();
  const webpush = await Receiver.start(tls);
  const vapid = generateVapidKeys();
  const files = { key: join(dir, "apns-key.p8"), ca: join(dir, "apns-ca.pem"), account: join(dir, "fcm-service-account.json"), webpush_ca: join(dir, "webpush-ca.pem") };
  writeFileSync(files.webpush_ca, tls.cert);
  writeFileSync(files.key, apns.keys.private_key, { mode: 0o600 });
  writeFileSync(files.ca, apns.ca);
  writeFileSync(files.account, JSON.stringify(fcm.service_account), { mode: 0o600 });
  return {
    apns,
    fcm,
    webhook,
    webpush,
    vapid,
    env: {
      VAPID_PUBLIC_KEY: vapid.public_key,
      VAPID_PRIVATE_KEY: vapid.private_key,
      VAPID_SUBJECT: "mailto:ops@chat.example",
      WEBPUSH_CA_FILE: files.webpush_ca,
      PUSH_PRIVATE_TARGETS_ALLOWED: "127.0.0.0/8",
      APNS_KEY_FILE: files.key,
      APNS_KEY_ID: apns.keys.key_id,
      APNS_TEAM_ID: apns.keys.team_id,
      APNS_TOPIC: apns.topic,
      APNS_ENDPOINT: apns.endpoint,
      APNS_CA_FILE: files.ca,
      FCM_SERVICE_ACCOUNT_FILE: files.account,
      FCM_ENDPOINT: fcm.base_url,
      PUSH_PREVIEW_CHARS: "40",
    },
    close: async () => {
      await Promise.all([apns.close(), fcm.close(), webhook.close(), webpush.close()]);
    },
  };
}
