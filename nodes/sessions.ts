/**
 * Devices and their tokens: which devices are current, and retiring them. A token names its
 * device (nodes/auth.ts), so a token is revoked by removing its device from the directory:
 * every token of that device is then refused on REST (401 TOKEN_REVOKED) and at the WebSocket
 * upgrade, on every node, with no list of revoked tokens to keep. A device is retired when
 * its user signs it out, when a password change signs out all of them, and when newer
 * sign-ins push it out of the newest `devicesPerUserMax` (core/limits.ts), and when its token
 * has expired (a token is issued once, with its device: an expired device can never connect
 * again, so `sweepExpired` collects it and its pending entries).
 *
 * Retiring a device, in this order:
 * 1. it leaves the directory, so routers stop writing pending entries for it and every node
 *    stops accepting its tokens;
 * 2. `signed_out` is told, so its open sockets close (4001) wherever they are (in process for
 *    the all-in-one node, over Redis pub/sub for production gateways);
 * 3. its pending entries are dropped, and once more after `settle_ms`: a router that read the
 *    device list just before step 1 may still put an entry for it (PendingStore.removeDevice).
 *    That second sweep is a timer in memory. Where the pending store does not shadow a late
 *    put by itself (SQLite; Cassandra's partition tombstone does), a node that stops before
 *    it fires, or between steps 1 and 3, would leave such entries for good; so the node calls
 *    `dropOrphans` when it starts (no put of the stopped process can land any more), with the
 *    store's walk over the devices that hold entries.
 * Live devices are untouched: their entries and deliveries do not depend on other devices.
 */
import type { Limits } from "../core/limits.js";
import type { Directory } from "../core/ports/directory.js";
import type { PendingStore } from "../core/ports/pending-store.js";

/** Longer than any message takes from the audience read to its pending put. */
export const PENDING_SETTLE_MS = 60_000;
/** How often the nodes that retire devices collect those whose token expired. */
export const DEVICE_SWEEP_INTERVAL_MS = 10 * 60 * 1000;
/** Expired devices read per page, and pages per sweep (what is left waits for the next). */
const SWEEP_PAGE_DEVICES = 500;
const SWEEP_PAGES_MAX = 20;

export type DeviceSessionsOptions = {
  readonly directory: Directory;
  /** Null where this node has no pending store of its own to clean (it is told to others). */
  readonly pending: PendingStore | null;
  readonly limits: Limits;
  /** Told of devices retired, so that their open sockets close; must not throw. */
  readonly signed_out: (user_id: string, device_ids: readonly string[]) => void;
  /** A failure that is logged, not answered (the cleanup after the device is already gone). */
  readonly warn?: (error: unknown, what: string) => void;
  readonly settle_ms?: number;
};

export class DeviceSessions {
  private readonly settle_ms: number;

  constructor(private readonly o: DeviceSessionsOptions) {
    this.settle_ms = o.settle_ms ?? PENDING_SETTLE_MS;
  }

  /** Whether a token's device still exists and is among the user's newest devices. */
  async current(user_id: string, device_id: string): Promise<boolean> {
    return (await this.o.directory.devices(user_id)).slice(-this.o.limits.devicesPerUserMax).includes(device_id);
  }

  /** After a sign-in added a device: retires those beyond the newest devicesPerUserMax. */
  async signedIn(user_id: string): Promise<void> {
    const devices = await this.o.directory.devices(user_id);
    const retired = devices.slice(0, Math.max(0, devices.length - this.o.limits.devicesPerUserMax));
    if (retired.length > 0) await this.retire(user_id, retired);
  }

  /** Signs out every device of the user (a password change). */
  async retireAll(user_id: string): Promise<void> {
    await this.retire(user_id, await this.o.directory.devices(user_id));
  }

  /** Retires the devices whose token has expired by `now_ms`; answers how many (bounded per call). */
  async sweepExpired(now_ms: number): Promise<number> {
    let retired = 0;
    for (let page = 0; page < SWEEP_PAGES_MAX; page++) {
      const expired = await this.o.directory.devicesCreatedBefore(now_ms - this.o.limits.tokenTtlMs, SWEEP_PAGE_DEVICES);
      const by_user = new Map<string, string[]>();
      for (const { user_id, device_id } of expired) by_user.set(user_id, [...(by_user.get(user_id) ?? []), device_id]);
      for (const [user_id, device_ids] of by_user) retired += (await this.retire(user_id, device_ids)).length;
      if (expired.length < SWEEP_PAGE_DEVICES) break;
    }
    return retired;
  }

  /**
   * Drops the pending entries of devices that are no longer current: gone from the directory
   * (their entries only), or still listed but beyond the newest `devicesPerUserMax` (retired
   * now, as signedIn would have). `walk` pages through the devices that hold entries (one
   * page of DEVICE_PAGE after a cursor). Answers how many devices it cleaned.
   */
  async dropOrphans(walk: (after: { user_id: string; device_id: string } | null, limit: number) => Promise<{ user_id: string; device_id: string }[]>): Promise<number> {
    const pending = this.o.pending;
    if (pending === null) return 0;
    let cleaned = 0;
    let after: { user_id: string; device_id: string } | null = null;
    for (;;) {
      const page = await walk(after, SWEEP_PAGE_DEVICES);
      for (const { user_id, device_id } of page) {
        const devices = await this.o.directory.devices(user_id);
        if (!devices.includes(device_id)) {
          await pending.removeDevice(user_id, device_id);
          cleaned++;
        } else if (!devices.slice(-this.o.limits.devicesPerUserMax).includes(device_id)) {
          cleaned += (await this.retire(user_id, [device_id])).length;
        }
      }
      if (page.length < SWEEP_PAGE_DEVICES) return cleaned;
      after = page.at(-1)!;
    }
  }

  /** Retires `device_ids` of `user_id`; answers those that were there. */
  async retire(user_id: string, device_ids: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const device_id of device_ids) if (await this.o.directory.removeDevice(user_id, device_id)) removed.push(device_id);
    if (removed.length === 0) return removed;
    this.o.signed_out(user_id, removed);
    const pending = this.o.pending;
    if (pending !== null) {
      const sweep = async (): Promise<void> => {
        for (const device_id of removed) await pending.removeDevice(user_id, device_id);
      };
      await sweep().catch((error: unknown) => this.o.warn?.(error, "dropping a retired device's pending entries"));
      const again = setTimeout(() => void sweep().catch((error: unknown) => this.o.warn?.(error, "dropping a retired device's pending entries (settle)")), this.settle_ms);
      again.unref();
    }
    return removed;
  }
}
