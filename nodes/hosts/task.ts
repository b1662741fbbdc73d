/**
 * Tasks: callback-style asynchronous steps that run the same way over real promises and over
 * the simulator's synchronous ones. `Promise.all` and `await` would hop through the
 * microtask queue, outside the simulator's virtual time; these never do.
 */
import type { Clock } from "../../core/ports/clock.js";
import type { Timers } from "./timers.js";

export type Task<T> = (ok: (value: T) => void, fail: (reason: string) => void) => void;

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A task from a port call; a synchronous throw becomes a failure too. */
export function fromPromise<T>(start: () => PromiseLike<T>): Task<T> {
  return (ok, fail) => {
    let promise: PromiseLike<T>;
    try {
      promise = start();
    } catch (error) {
      fail(reason(error));
      return;
    }
    promise.then(ok, (error: unknown) => fail(reason(error)));
  };
}

export function map<A, B>(task: Task<A>, f: (a: A) => B): Task<B> {
  return (ok, fail) => task((a) => ok(f(a)), fail);
}

export function chain<A, B>(task: Task<A>, next: (a: A) => Task<B>): Task<B> {
  return (ok, fail) => task((a) => next(a)(ok, fail), fail);
}

/** Runs tasks concurrently; fails with the first failure, succeeds with all values in order. */
export function all<T>(tasks: readonly Task<T>[]): Task<T[]> {
  return (ok, fail) => {
    if (tasks.length === 0) {
      ok([]);
      return;
    }
    const values = new Array<T>(tasks.length);
    let left = tasks.length;
    let failed = false;
    tasks.forEach((task, i) => {
      task(
        (value) => {
          if (failed) return;
          values[i] = value;
          if (--left === 0) ok(values);
        },
        (why) => {
          if (failed) return;
          failed = true;
          fail(why);
        },
      );
    });
  };
}

export function ofValue<T>(value: T): Task<T> {
  return (ok) => ok(value);
}

/**
 * Runs a task with a deadline; exactly one of ok and fail is called, fail("timeout") when
 * the deadline passes first (the work may still have applied: callers retry idempotently).
 */
export function within<T>(task: Task<T>, timers: Timers, clock: Clock, timeout_ms: number, late?: (value: T) => void): Task<T> {
  return (ok, fail) => {
    let done = false;
    const timer = timers.at(clock.now() + timeout_ms, () => {
      if (done) return;
      done = true;
      fail("timeout");
    });
    task(
      (value) => {
        if (done) {
          // Succeeded after its caller gave up: whatever it made (a connection, a consumer
          // holding partitions) is handed to `late` to be released, not leaked.
          late?.(value);
          return;
        }
        done = true;
        timer.cancel();
        ok(value);
      },
      (why) => {
        if (done) return;
        done = true;
        timer.cancel();
        fail(why);
      },
    );
  };
}
