/**
 * A promise whose callbacks run synchronously when it settles, inside the simulator's
 * current event, never in a microtask. The simulated ports return these, and the hosts
 * consume every port call with `.then` (see nodes/hosts/timers.ts), so host code runs the
 * same over real and simulated ports while every step of a simulated run happens at a
 * definite virtual time, in a definite order.
 *
 * Rules: settle once; callbacks registered after settling run at once; a throwing callback
 * rejects the derived promise (as with real promises). `await` on one works but hops through
 * a microtask, so simulated hosts must not await.
 */
function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as { then?: unknown }).then === "function";
}

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;

/**
 * State in three plain fields, and the first waiter apart from the rest: a simulated run
 * makes a promise per port call and nearly every one gets exactly one `then`, so a settled
 * record and a waiting array per promise were most of its garbage. Waiters still run in the
 * order they were registered.
 */
export class SyncPromise<T> implements Promise<T> {
  private state: typeof PENDING | typeof FULFILLED | typeof REJECTED = PENDING;
  /** The value when fulfilled, the reason when rejected. */
  private outcome: unknown = undefined;
  private first: (() => void) | null = null;
  private more: (() => void)[] | null = null;

  static resolved<T>(value: T): SyncPromise<T> {
    const p = new SyncPromise<T>();
    p.resolve(value);
    return p;
  }

  static rejected<T>(reason: unknown): SyncPromise<T> {
    const p = new SyncPromise<T>();
    p.reject(reason);
    return p;
  }

  get [Symbol.toStringTag](): string {
    return "SyncPromise";
  }

  get isSettled(): boolean {
    return this.state !== PENDING;
  }

  resolve(value: T | PromiseLike<T>): void {
    if (this.state !== PENDING) return;
    if (isThenable(value)) {
      value.then(
        (v) => this.resolve(v as T),
        (e) => this.reject(e),
      );
      return;
    }
    this.settle(FULFILLED, value);
  }

  reject(reason: unknown): void {
    if (this.state !== PENDING) return;
    this.settle(REJECTED, reason);
  }

  private settle(state: typeof FULFILLED | typeof REJECTED, outcome: unknown): void {
    this.state = state;
    this.outcome = outcome;
    const first = this.first;
    const more = this.more;
    this.first = null;
    this.more = null;
    if (first !== null) first();
    if (more !== null) for (const run of more) run();
  }

  // biome-ignore lint/suspicious/noThenProperty: a SyncPromise is a thenable on purpose (await and Promise.resolve adopt it).
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): SyncPromise<R1 | R2> {
    const next = new SyncPromise<R1 | R2>();
    const run = (): void => {
      try {
        if (this.state === FULFILLED) {
          if (onFulfilled) next.resolve(onFulfilled(this.outcome as T));
          else next.resolve(this.outcome as R1);
        } else if (onRejected) next.resolve(onRejected(this.outcome));
        else next.reject(this.outcome);
      } catch (error) {
        next.reject(error);
      }
    };
    if (this.state !== PENDING) run();
    else if (this.first === null) this.first = run;
    else (this.more ??= []).push(run);
    return next;
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): SyncPromise<T | R> {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): SyncPromise<T> {
    return this.then(
      (value) => {
        onFinally?.();
        return value;
      },
      (reason) => {
        onFinally?.();
        throw reason;
      },
    );
  }
}
