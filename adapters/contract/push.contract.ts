/**
 * The Push contract (core/ports/push.ts), as vitest tests that every Push must pass: the
 * recording memory one, and the webhook / Web Push providers against a local receiver.
 *
 * Rules of this suite: it speaks only the port and the harness. The harness names a target
 * its provider accepts and a target it refuses (a harness without one fails the suite: an
 * untested refusal is not a passed one); when it can also read back what the provider
 * received, the suite checks that too.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Push } from "../../core/ports/push.js";
import type { PushNotification, PushTarget } from "../../core/model.js";

export type PushHarness = {
  readonly push: Push;
  /** A target whose provider accepts notifications. */
  readonly accepting_target: PushTarget;
  /** A target whose provider refuses them, or null when the harness cannot arrange one. */
  readonly rejecting_target: PushTarget | null;
  /** What the provider accepted for `target`, oldest first; null when it cannot be read back. */
  received: ((target: PushTarget) => Promise<readonly PushNotification[]>) | null;
  /** Releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type PushContractOptions = {
  /** Per-test timeout for slow providers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

export function describePushContract(name: string, factory: () => Promise<PushHarness>, options: PushContractOptions = {}): void {
  describe(`Push contract: ${name}`, () => {
    let harness: PushHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const h = (): PushHarness => {
      if (harness === null) throw new Error("Push contract: the harness is not open");
      return harness;
    };

    const notification = (): PushNotification => ({
      user_id: `usr_${randomUUID().slice(0, 8)}`,
      conversation_id: `g.grp_${randomUUID().slice(0, 8)}`,
      message_id: "0000060000000004096",
      from: `usr_${randomUUID().slice(0, 8)}`,
      group_id: null,
      preview: `hello ${randomUUID()}`,
    });

    const timeout = options.test_timeout_ms;

    it(
      "resolves once the provider accepted a notification",
      async () => {
        const sent = notification();
        await expect(h().push.notify(h().accepting_target, sent)).resolves.toBeUndefined();
        const received = h().received;
        if (received !== null) expect(await received(h().accepting_target)).toContainEqual(sent);
      },
      timeout,
    );

    it(
      "accepts several notifications in a row, without preview too",
      async () => {
        const sent = [notification(), { ...notification(), preview: null }, { ...notification(), group_id: "grp_x" }];
        for (const n of sent) await h().push.notify(h().accepting_target, n);
        const received = h().received;
        if (received === null) return;
        const got = await received(h().accepting_target);
        for (const n of sent) expect(got).toContainEqual(n);
      },
      timeout,
    );

    it(
      "rejects, rather than throwing synchronously, when the provider refuses",
      async () => {
        const target = h().rejecting_target;
        if (target === null) throw new Error("Push contract: the harness must name a target the provider refuses");
        let pending: Promise<void> | null = null;
        expect(() => {
          pending = h().push.notify(target, notification());
        }).not.toThrow();
        await expect(pending).rejects.toBeInstanceOf(Error);
        // A refusal for one target leaves another untouched.
        await expect(h().push.notify(h().accepting_target, notification())).resolves.toBeUndefined();
      },
      timeout,
    );
  });
}
