/**
 * SignInGuard: what bounds password hashing, the one thing an unauthenticated client can make
 * a node do that costs real CPU (scrypt, ~50 ms of a core each). Sign-up and sign-in pass
 * through it before any hash is computed.
 *
 * Rules:
 * - Per account, one verification at a time, and after `failures_free` wrong passwords in a
 *   row the account answers 429 for a while that doubles with each further failure, up to
 *   `lock_ms_max` (bounded, so that a stranger can delay a user, never lock them out for
 *   long). A success clears the account's record.
 * - Per address, the REST rate limit (api.ts) applies as to every call; a bucket of its own
 *   would refuse the many sign-ins a test, a bench or an office behind one NAT makes.
 * - Per node, at most `hashes_max` hashes at once and `queue_max` waiting; past that, 503
 *   OVERLOADED. Hashing runs on libuv's small thread pool, so without this bound a flood
 *   queues there in front of every real sign-in.
 * - Every map is bounded (`keys_max`; a flood of keys resets it, which only forgives).
 */
import type { Clock } from "../../core/ports/clock.js";

export type SignInGuardOptions = {
  readonly failures_free: number;
  readonly lock_ms_max: number;
  readonly hashes_max: number;
  readonly queue_max: number;
  readonly keys_max: number;
};

export const SIGN_IN_GUARD_DEFAULTS: SignInGuardOptions = {
  failures_free: 5,
  lock_ms_max: 60_000,
  hashes_max: 4,
  queue_max: 256,
  keys_max: 100_000,
};

export type Refusal = { readonly code: "RATE_LIMITED" | "OVERLOADED"; readonly message: string };

export class SignInGuard {
  private readonly accounts = new Map<string, { failures: number; locked_until_ms: number; busy: boolean }>();
  private hashing = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly options: SignInGuardOptions = SIGN_IN_GUARD_DEFAULTS,
  ) {}

  /**
   * Runs `work` (which hashes) for `account` if the bounds allow it; answers
   * the refusal otherwise. `work` answers whether the password was right (sign-in) or
   * null when that does not apply (sign-up).
   */
  async run<T>(account: string, work: () => Promise<{ value: T; password_ok: boolean | null }>): Promise<{ ok: true; value: T } | { ok: false; refusal: Refusal }> {
    const now = this.clock.now();
    const record = this.account(account);
    if (record.busy) return refuse("RATE_LIMITED", "A sign-in for this account is already in progress; retry in a moment.");
    if (record.locked_until_ms > now) {
      return refuse("RATE_LIMITED", `Too many wrong passwords for this account; retry in ${Math.ceil((record.locked_until_ms - now) / 1000)} s.`);
    }
    if (this.hashing >= this.options.hashes_max && this.waiting.length >= this.options.queue_max) {
      return refuse("OVERLOADED", "Too many sign-ins at once; retry shortly.");
    }
    record.busy = true;
    try {
      await this.acquire();
      let outcome: { value: T; password_ok: boolean | null };
      try {
        outcome = await work();
      } finally {
        this.release();
      }
      if (outcome.password_ok === true) this.accounts.delete(account);
      else if (outcome.password_ok === false) {
        record.failures += 1;
        const over = record.failures - this.options.failures_free;
        if (over >= 0) record.locked_until_ms = this.clock.now() + Math.min(this.options.lock_ms_max, 1000 * 2 ** Math.min(over, 30));
      }
      return { ok: true, value: outcome.value };
    } finally {
      record.busy = false;
      if (record.failures === 0 && this.accounts.get(account) === record) this.accounts.delete(account);
    }
  }

  private account(account: string): { failures: number; locked_until_ms: number; busy: boolean } {
    let record = this.accounts.get(account);
    if (record === undefined) {
      if (this.accounts.size >= this.options.keys_max) this.accounts.clear();
      record = { failures: 0, locked_until_ms: 0, busy: false };
      this.accounts.set(account, record);
    }
    return record;
  }

  private acquire(): Promise<void> {
    if (this.hashing < this.options.hashes_max) {
      this.hashing++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => resolve()));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(); // the slot passes on
    else this.hashing--;
  }
}

function refuse(code: Refusal["code"], message: string): { ok: false; refusal: Refusal } {
  return { ok: false, refusal: { code, message } };
}
