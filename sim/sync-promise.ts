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
type Settled<T> = { readonly kind: "fulfilled"; readonly value: T } | { readonly kind: "rejected"; readonly reason: unknown };

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as { then?: unknown }).then === "function";
}

export class SyncPromise<T> implements Promise<T> {
  private settled: Settled<T> | null = null;
  private waiting: (() => void)[] = [];
  readonly [Symbol.toStringTag] = "SyncPromise";

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

  get isSettled(): boolean {
    return this.settled !== null;
  }

  resolve(value: T | PromiseLike<T>): void {
    if (this.settled !== null) return;
    if (isThenable(value)) {
      value.then(
        (v) => this.resolve(v as T),
        (e) => this.reject(e),
      );
      return;
    }
    this.settle({ kind: "fulfilled", value });
  }

  reject(reason: unknown): void {
    if (this.settled !== null) return;
    this.settle({ kind: "rejected", reason });
  }

  private settle(s: Settled<T>): void {
    this.settled = s;
    const waiting = this.waiting;
    this.waiting = [];
    for (const run of waiting) run();
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): SyncPromise<R1 | R2> {
    const next = new SyncPromise<R1 | R2>();
    const run = (): void => {
      const s = this.settled!;
      try {
        if (s.kind === "fulfilled") {
          if (onFulfilled) next.resolve(onFulfilled(s.value));
          else next.resolve(s.value as unknown as R1);
        } else if (onRejected) next.resolve(onRejected(s.reason));
        else next.reject(s.reason);
      } catch (error) {
        next.reject(error);
      }
    };
    if (this.settled === null) this.waiting.push(run);
    else run();
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
