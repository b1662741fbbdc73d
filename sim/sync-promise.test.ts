/** SyncPromise: the rules its header states, which simulated runs (and their trace hashes) rely on. */
import { describe, expect, it } from "vitest";
import { SyncPromise } from "./sync-promise.js";

describe("SyncPromise", () => {
  it("runs waiters synchronously at settling, in the order they were registered, and late ones at once", () => {
    const p = new SyncPromise<number>();
    const seen: string[] = [];
    p.then((v) => seen.push(`a${v}`));
    p.then((v) => seen.push(`b${v}`));
    p.then((v) => {
      seen.push(`c${v}`);
      p.then((w) => seen.push(`inner${w}`)); // registered while settling: runs at once
    });
    expect(seen).toEqual([]);
    p.resolve(7);
    expect(seen).toEqual(["a7", "b7", "c7", "inner7"]);
    p.then((v) => seen.push(`late${v}`));
    expect(seen.at(-1)).toBe("late7");
  });

  it("settles once, passes rejections through, and turns a throwing callback into a rejection", () => {
    const p = new SyncPromise<number>();
    const out: unknown[] = [];
    p.then(undefined).then(
      () => out.push("fulfilled"),
      (e) => out.push(`rejected:${String(e)}`),
    );
    p.reject("down");
    p.resolve(1);
    expect(out).toEqual(["rejected:down"]);
    SyncPromise.resolved(2)
      .then(() => {
        throw new Error("boom");
      })
      .catch((e: unknown) => out.push((e as Error).message));
    expect(out).toEqual(["rejected:down", "boom"]);
    expect(Object.prototype.toString.call(p)).toBe("[object SyncPromise]");
  });

  it("adopts a thenable it is resolved with", () => {
    const inner = new SyncPromise<string>();
    const outer = new SyncPromise<string>();
    const out: string[] = [];
    outer.then((v) => out.push(v));
    outer.resolve(inner);
    expect(outer.isSettled).toBe(false);
    inner.resolve("x");
    expect(out).toEqual(["x"]);
  });
});
