/**
 * The Presence contract (core/ports/presence.ts), as vitest tests that every Presence must
 * pass: the memory one, the simulated one, and Redis against a real server.
 *
 * Rules of this suite, so that it can run against a server shared between tests and runs:
 * - It speaks only the port and the harness. Every test uses its own user and connection
 *   IDs, so keys left by other tests or earlier runs are never seen.
 * - Time moves only through `advance(ms)`: a harness on a manual clock moves it and fires
 *   due wake-ups; a harness on a real server sleeps. TTLs are `ttl_ms` (option), and the
 *   suite never depends on how long a step between two advances takes, beyond `ttl_ms / 4`.
 * - Listeners may be called asynchronously (pub/sub), so every "hears" is awaited by polling
 *   for up to `settle_ms`, and every "hears nothing" is judged after a sentinel transition,
 *   subscribed later, has been heard.
 * - last_seen_ms is only checked to be a number once the user has been online, and to be
 *   the same in a notice and in `status`: implementations may differ on which moment it names.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Presence, PresenceChange } from "../../core/ports/presence.js";

export type PresenceHarness = {
  readonly presence: Presence;
  /** Lets `ms` milliseconds pass for the presence (moving a manual clock, or sleeping). */
  advance(ms: number): Promise<void>;
  /** Closes the presence and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type PresenceContractOptions = {
  /** The TTL the suite heartbeats with; default 1 s (a real server sleeps about 2 TTLs per test). */
  readonly ttl_ms?: number;
  /** The longest a notice may take to arrive; default 2 s. */
  readonly settle_ms?: number;
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

const TTL_MS_DEFAULT = 1_000;
const SETTLE_MS_DEFAULT = 2_000;
const POLL_EVERY_MS = 5;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it passes or `settle_ms` runs out, then fails with its last error. */
async function eventually(check: () => void | Promise<void>, settle_ms: number): Promise<void> {
  const deadline_ms = Date.now() + settle_ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() >= deadline_ms) throw error;
      await sleep(POLL_EVERY_MS);
    }
  }
}

type Heard = { readonly changes: PresenceChange[]; listener(change: PresenceChange): void };

function recorder(): Heard {
  const changes: PresenceChange[] = [];
  return { changes, listener: (change) => void changes.push(change) };
}

const statuses = (heard: Heard): string[] => heard.changes.map((change) => `${change.user_id}:${change.status}`);

export function describePresenceContract(
  name: string,
  factory: () => PresenceHarness | Promise<PresenceHarness>,
  options: PresenceContractOptions = {},
): void {
  const ttl_ms = options.ttl_ms ?? TTL_MS_DEFAULT;
  const settle_ms = options.settle_ms ?? SETTLE_MS_DEFAULT;
  const timeout = options.test_timeout_ms;

  describe(`Presence contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

    let harness: PresenceHarness | null = null;
    const h = (): PresenceHarness => {
      if (harness === null) throw new Error("presence contract: the factory did not run");
      return harness;
    };

    beforeEach(async () => {
      harness = await factory();
    });

    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });

    const statusOf = async (user_id: string): Promise<{ status: string; last_seen_ms: number | null }> => {
      const found = (await h().presence.status([user_id])).get(user_id);
      if (found === undefined) throw new Error(`status([${user_id}]) has no entry for ${user_id}`);
      return found;
    };

    /**
     * Waits until every notice caused so far has had time to arrive: a sentinel user,
     * subscribed now, goes online, and once its listener hears that, earlier notices have too.
     */
    const quiesce = async (): Promise<void> => {
      const sentinel = unique("sentinel");
      const heard = recorder();
      const stop = await h().presence.subscribe(sentinel, heard.listener);
      await h().presence.heartbeat(sentinel, unique("conn"), ttl_ms);
      await eventually(() => expect(statuses(heard)).toEqual([`${sentinel}:online`]), settle_ms);
      await stop();
    };

    it("says offline, with no last_seen, for a user never seen, and answers for every user asked", async () => {
      const [a, b] = [unique("user"), unique("user")];
      const found = await h().presence.status([a, b]);
      expect(found.get(a)).toEqual({ status: "offline", last_seen_ms: null });
      expect(found.get(b)).toEqual({ status: "offline", last_seen_ms: null });
      expect(found.size).toBe(2);
    }, timeout);

    it("says online after a heartbeat, and a listener hears the user come online", async () => {
      const user = unique("user");
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      await h().presence.heartbeat(user, unique("conn"), ttl_ms);
      expect((await statusOf(user)).status).toBe("online");
      await eventually(() => expect(statuses(heard)).toEqual([`${user}:online`]), settle_ms);
    }, timeout);

    it("stays online while heartbeats keep coming within the TTL, and tells a listener only once", async () => {
      const user = unique("user");
      const connection = unique("conn");
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      await h().presence.heartbeat(user, connection, ttl_ms);
      for (let beat = 0; beat < 3; beat++) {
        await h().advance(ttl_ms / 2);
        await h().presence.heartbeat(user, connection, ttl_ms);
        expect((await statusOf(user)).status).toBe("online");
      }
      await quiesce();
      expect(statuses(heard)).toEqual([`${user}:online`]);
    }, timeout);

    it("goes offline when the TTL lapses after the last heartbeat; the listener hears it and last_seen is set", async () => {
      const user = unique("user");
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      await h().presence.heartbeat(user, unique("conn"), ttl_ms);
      await h().advance(ttl_ms / 2);
      expect((await statusOf(user)).status).toBe("online");
      await h().advance(ttl_ms);
      await eventually(async () => expect((await statusOf(user)).status).toBe("offline"), settle_ms);
      await eventually(() => expect(statuses(heard)).toEqual([`${user}:online`, `${user}:offline`]), settle_ms);
      const now = await statusOf(user);
      expect(typeof now.last_seen_ms).toBe("number");
      expect(heard.changes[1]?.last_seen_ms).toBe(now.last_seen_ms);
    }, timeout);

    it("goes offline at once when the last connection disconnects, with last_seen set", async () => {
      const user = unique("user");
      const connection = unique("conn");
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      await h().presence.heartbeat(user, connection, ttl_ms);
      await h().presence.disconnect(user, connection);
      const now = await statusOf(user);
      expect(now.status).toBe("offline");
      expect(typeof now.last_seen_ms).toBe("number");
      await eventually(() => expect(statuses(heard)).toEqual([`${user}:online`, `${user}:offline`]), settle_ms);
      expect(heard.changes[1]?.last_seen_ms).toBe(now.last_seen_ms);
    }, timeout);

    it("stays online while another connection of the user lives, and goes offline when it disconnects too", async () => {
      const user = unique("user");
      const [first, second] = [unique("conn"), unique("conn")];
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      await h().presence.heartbeat(user, first, ttl_ms);
      await h().presence.heartbeat(user, second, ttl_ms);
      await h().presence.disconnect(user, first);
      expect((await statusOf(user)).status).toBe("online");
      await quiesce();
      expect(statuses(heard)).toEqual([`${user}:online`]);
      await h().presence.disconnect(user, second);
      expect((await statusOf(user)).status).toBe("offline");
      await eventually(() => expect(statuses(heard)).toEqual([`${user}:online`, `${user}:offline`]), settle_ms);
    }, timeout);

    it("stays online while another connection beats, though the first one's TTL lapses", async () => {
      const user = unique("user");
      const [first, second] = [unique("conn"), unique("conn")];
      await h().presence.heartbeat(user, first, ttl_ms);
      await h().advance(ttl_ms / 2);
      await h().presence.heartbeat(user, second, ttl_ms);
      await h().advance((ttl_ms * 3) / 4);
      expect((await statusOf(user)).status).toBe("online");
      await h().advance(ttl_ms);
      await eventually(async () => expect((await statusOf(user)).status).toBe("offline"), settle_ms);
    }, timeout);

    it("comes back online after being offline, and a listener hears each transition", async () => {
      const user = unique("user");
      const heard = recorder();
      await h().presence.subscribe(user, heard.listener);
      const first = unique("conn");
      await h().presence.heartbeat(user, first, ttl_ms);
      await h().presence.disconnect(user, first);
      await h().presence.heartbeat(user, unique("conn"), ttl_ms);
      expect((await statusOf(user)).status).toBe("online");
      await eventually(
        () => expect(statuses(heard)).toEqual([`${user}:online`, `${user}:offline`, `${user}:online`]),
        settle_ms,
      );
    }, timeout);

    it("tells a listener only about the users it subscribed to", async () => {
      const [alice, bob] = [unique("user"), unique("user")];
      const [hears_alice, hears_bob] = [recorder(), recorder()];
      await h().presence.subscribe(alice, hears_alice.listener);
      await h().presence.subscribe(bob, hears_bob.listener);
      await h().presence.heartbeat(alice, unique("conn"), ttl_ms);
      await eventually(() => expect(statuses(hears_alice)).toEqual([`${alice}:online`]), settle_ms);
      await quiesce();
      expect(statuses(hears_bob)).toEqual([]);
    }, timeout);

    it("tells every listener of a user; one that unsubscribes hears nothing more, the others still do", async () => {
      const user = unique("user");
      const connection = unique("conn");
      const [stays, leaves] = [recorder(), recorder()];
      await h().presence.subscribe(user, stays.listener);
      const stop = await h().presence.subscribe(user, leaves.listener);
      await h().presence.heartbeat(user, connection, ttl_ms);
      await eventually(() => {
        expect(statuses(stays)).toEqual([`${user}:online`]);
        expect(statuses(leaves)).toEqual([`${user}:online`]);
      }, settle_ms);
      await stop();
      await stop();
      await h().presence.disconnect(user, connection);
      await eventually(() => expect(statuses(stays)).toEqual([`${user}:online`, `${user}:offline`]), settle_ms);
      await quiesce();
      expect(statuses(leaves)).toEqual([`${user}:online`]);
    }, timeout);

    it("ignores a disconnect of a connection it does not know", async () => {
      const user = unique("user");
      await h().presence.heartbeat(user, unique("conn"), ttl_ms);
      await h().presence.disconnect(user, unique("conn"));
      await h().presence.disconnect(unique("user"), unique("conn"));
      expect((await statusOf(user)).status).toBe("online");
    }, timeout);
  });
}
