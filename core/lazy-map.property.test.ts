/**
 * LazyMap and LazySet answer exactly as Map and Set do, in the same iteration order, for any
 * sequence of operations: the gateway core swapped its per-connection maps for them, and the
 * simulator's trace hashes must not move. The seed is pinned (FC_SEED overrides) and printed;
 * replay with `FC_SEED=<seed> npx vitest run core/lazy-map`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LazyMap, LazySet } from "./lazy-map.js";

const raw = process.env.FC_SEED;
const seed = raw === undefined || raw.trim() === "" ? 20261203 : Number(raw);
if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(raw)}`);
console.log(`[core/lazy-map properties] fast-check seed ${seed} (replay: FC_SEED=${seed} npx vitest run core/lazy-map)`);

const key = fc.integer({ min: 0, max: 7 }).map((n) => `k${n}`);
const op = fc.oneof(
  fc.record({ op: fc.constant("set" as const), key, value: fc.integer() }),
  fc.record({ op: fc.constant("delete" as const), key }),
  fc.record({ op: fc.constant("clear" as const) }),
);

describe(`LazyMap and LazySet (seed ${seed})`, () => {
  it("answer every operation as Map does, with the same size and iteration order throughout", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const real = new Map<string, number>();
        const lazy = new LazyMap<string, number>();
        const check = (): void => {
          expect(lazy.size).toBe(real.size);
          expect([...lazy]).toEqual([...real]);
          expect([...lazy.keys()]).toEqual([...real.keys()]);
          expect([...lazy.values()]).toEqual([...real.values()]);
          for (let n = 0; n < 8; n++) {
            expect(lazy.has(`k${n}`)).toBe(real.has(`k${n}`));
            expect(lazy.get(`k${n}`)).toBe(real.get(`k${n}`));
          }
          const seen: [string, number][] = [];
          lazy.forEach((v, k, m) => {
            expect(m).toBe(lazy);
            seen.push([k, v]);
          });
          expect(seen).toEqual([...real.entries()]);
        };
        check();
        for (const o of ops) {
          if (o.op === "set") {
            expect(lazy.set(o.key, o.value)).toBe(lazy);
            real.set(o.key, o.value);
          } else if (o.op === "delete") {
            expect(lazy.delete(o.key)).toBe(real.delete(o.key));
          } else {
            lazy.clear();
            real.clear();
          }
          check();
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  it("answer every operation as Set does, with the same size and iteration order throughout", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const real = new Set<string>();
        const lazy = new LazySet<string>();
        const check = (): void => {
          expect(lazy.size).toBe(real.size);
          expect([...lazy]).toEqual([...real]);
          expect([...lazy.entries()]).toEqual([...real.entries()]);
          for (let n = 0; n < 8; n++) expect(lazy.has(`k${n}`)).toBe(real.has(`k${n}`));
        };
        check();
        for (const o of ops) {
          if (o.op === "set") {
            expect(lazy.add(o.key)).toBe(lazy);
            real.add(o.key);
          } else if (o.op === "delete") {
            expect(lazy.delete(o.key)).toBe(real.delete(o.key));
          } else {
            lazy.clear();
            real.clear();
          }
          check();
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  it("hold no table until the first insert, and keep it once allocated", () => {
    const lazy = new LazyMap<string, number>();
    expect(Object.keys(lazy)).toEqual(["inner"]);
    expect((lazy as unknown as { inner: unknown }).inner).toBeNull();
    lazy.set("a", 1);
    expect((lazy as unknown as { inner: unknown }).inner).toBeInstanceOf(Map);
    lazy.delete("a");
    // Kept once allocated: a busy connection inserts and deletes all the time.
    expect((lazy as unknown as { inner: unknown }).inner).toBeInstanceOf(Map);
  });
});
