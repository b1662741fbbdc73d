/**
 * PushByPlatform: the Push a node holds, which hands each target to the provider of its
 * platform (webhook, webpush; apns and fcm when someone writes them).
 *
 * Rules: a platform without a provider rejects with PUSH_NO_PROVIDER, naming it; whatever the
 * provider answers passes through unchanged (PushTargetGone included, so the caller can
 * delete the registration). notify never throws synchronously.
 */
import type { PushNotification, PushTarget } from "../../core/model.js";
import type { Push } from "../../core/ports/push.js";
import { PushError } from "./errors.js";

export type PushProviders = { readonly [platform in PushTarget["platform"]]?: Push };

export class PushByPlatform implements Push {
  private readonly providers: PushProviders;

  constructor(providers: PushProviders) {
    this.providers = { ...providers };
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    const provider = Object.hasOwn(this.providers, target.platform) ? this.providers[target.platform] : undefined;
    if (provider === undefined) throw new PushError("PUSH_NO_PROVIDER", `PushByPlatform.notify: no provider configured for ${target.platform}`);
    await provider.notify(target, notification);
  }

  /** The platforms this node can push to, e.g. to refuse `POST /devices` for the others. */
  platforms(): PushTarget["platform"][] {
    return (Object.keys(this.providers) as PushTarget["platform"][]).filter((p) => this.providers[p] !== undefined);
  }
}
