/**
 * PushByPlatform: the Push a node holds, which hands each target to the provider of its
 * platform (webhook, webpush, apns, fcm).
 *
 * Rules: a platform without a provider rejects with PUSH_NO_PROVIDER, naming it; whatever the
 * provider answers passes through unchanged. When the provider says the registration is gone
 * for good (PushTargetGone, or PUSH_TARGET_INVALID: it never will be a target), `unregister`
 * is called first (the node deletes the device's registration), whatever it answers.
 * notify never throws synchronously.
 */
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { PushError, PushTargetGone } from "./errors.js";

export type PushProviders = { readonly [platform in PushTarget["platform"]]?: Push };

export type PushByPlatformOptions = {
  /** Deletes `target` of `user_id` (Directory.unregisterPush); its failure is swallowed. */
  readonly unregister?: (user_id: string, target: PushTarget) => Promise<unknown>;
};

export class PushByPlatform implements Push {
  private readonly providers: PushProviders;
  private readonly unregister: PushByPlatformOptions["unregister"];

  constructor(providers: PushProviders, options: PushByPlatformOptions = {}) {
    this.providers = { ...providers };
    this.unregister = options.unregister;
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    const provider = Object.hasOwn(this.providers, target.platform) ? this.providers[target.platform] : undefined;
    if (provider === undefined) throw new PushError("PUSH_NO_PROVIDER", `PushByPlatform.notify: no provider configured for ${target.platform}`);
    try {
      await provider.notify(target, notification);
    } catch (error) {
      const gone = error instanceof PushTargetGone || (error instanceof PushError && error.code === "PUSH_TARGET_INVALID");
      if (gone && this.unregister !== undefined) await this.unregister(notification.user_id, target).catch(() => undefined);
      throw error;
    }
  }

  /** The platforms this node can push to, e.g. to refuse `POST /devices` for the others. */
  platforms(): PushTarget["platform"][] {
    return (Object.keys(this.providers) as PushTarget["platform"][]).filter((p) => this.providers[p] !== undefined);
  }
}
