/**
 * PushMemory: a recording Push for the embedded node and tests. It accepts every
 * notification and keeps it, except for targets it was told to fail, which it rejects.
 *
 * Rules: `notify` never throws synchronously; a rejected notification is not recorded (the
 * provider did not accept it). The record is bounded by `recorded_max`: the oldest entries
 * are dropped first, because push is best effort and only tests read the record.
 */
import type { Push } from "../../core/ports/push.js";
import type { PushNotification, PushTarget } from "../../core/model.js";
import { assert } from "../../core/result.js";

export type RecordedPush = { readonly target: PushTarget; readonly notification: PushNotification };

export type PushMemoryOptions = { readonly recorded_max?: number };

const RECORDED_MAX_DEFAULT = 10_000;

function targetKey(target: PushTarget): string {
  return JSON.stringify([target.platform, target.token]);
}

export class PushMemory implements Push {
  private readonly recorded_max: number;
  private readonly log: RecordedPush[] = [];
  private readonly failing = new Set<string>();

  constructor(options: PushMemoryOptions = {}) {
    this.recorded_max = options.recorded_max ?? RECORDED_MAX_DEFAULT;
    assert(Number.isInteger(this.recorded_max) && this.recorded_max > 0, "PushMemory: recorded_max must be a positive integer");
  }

  async notify(target: PushTarget, notification: PushNotification): Promise<void> {
    if (this.failing.has(targetKey(target))) {
      throw new Error(`PushMemory.notify: target ${target.platform} is set to fail`);
    }
    this.log.push({ target, notification });
    if (this.log.length > this.recorded_max) this.log.splice(0, this.log.length - this.recorded_max);
  }

  /** From now on, notifications to `target` reject (until `succeedFor`). */
  failFor(target: PushTarget): void {
    this.failing.add(targetKey(target));
  }

  succeedFor(target: PushTarget): void {
    this.failing.delete(targetKey(target));
  }

  /** The accepted notifications, oldest first. */
  recorded(): readonly RecordedPush[] {
    return [...this.log];
  }

  clear(): void {
    this.log.length = 0;
  }
}
