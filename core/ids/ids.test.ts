import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EPOCH_MS,
  SEQUENCE_MAX,
  directConversationId,
  directPeer,
  groupConversationId,
  opaqueId,
  parseConversationId,
  snowflakeInit,
  snowflakeNext,
  snowflakeParse,
  snowflakeUnixMs,
  type SnowflakeState,
} from "./index.js";

const seed = Number(process.env.FC_SEED ?? 20261128);
const T = EPOCH_MS + 1_000_000;

describe("snowflake", () => {
  it("packs milliseconds, machine and sequence into 19 digits", () => {
    const { id } = snowflakeNext(snowflakeInit(5), T);
    expect(id).toMatch(/^\d{19}$/);
    expect(snowflakeParse(id)).toEqual({ ms: 1_000_000, machine: 5, sequence: 0 });
    expect(snowflakeUnixMs(id)).toBe(T);
  });

  it("counts the sequence within a millisecond and moves on after 4,096", () => {
    let state: SnowflakeState = snowflakeInit(1);
    const ids: string[] = [];
    for (let i = 0; i <= SEQUENCE_MAX + 1; i++) {
      const next = snowflakeNext(state, T);
      state = next.state;
      ids.push(next.id);
    }
    expect(snowflakeParse(ids[SEQUENCE_MAX]!)).toEqual({ ms: 1_000_000, machine: 1, sequence: SEQUENCE_MAX });
    expect(snowflakeParse(ids[SEQUENCE_MAX + 1]!)).toEqual({ ms: 1_000_001, machine: 1, sequence: 0 });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("keeps increasing when the clock steps back", () => {
    const a = snowflakeNext(snowflakeInit(2), T);
    const b = snowflakeNext(a.state, T - 60_000);
    expect(b.id > a.id).toBe(true);
    expect(snowflakeParse(b.id).ms).toBe(1_000_000);
  });

  it("jumps above a floor from another machine", () => {
    const floor = snowflakeNext(snowflakeInit(1000), T + 5_000).id;
    const next = snowflakeNext(snowflakeInit(3), T, floor);
    expect(next.id > floor).toBe(true);
    expect(snowflakeParse(next.id).ms).toBe(1_005_001);
  });

  it(`IDs are unique and strictly increasing under any clock sequence (seed ${seed})`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1023 }),
        fc.array(fc.oneof(fc.integer({ min: -5_000, max: 5_000 }), fc.constant(0)), { minLength: 1, maxLength: 5_000 }),
        (machine, steps) => {
          let state = snowflakeInit(machine);
          let now = T;
          let last = "";
          for (const step of steps) {
            now += step;
            const next = snowflakeNext(state, now);
            expect(next.id > last).toBe(true);
            expect(snowflakeParse(next.id).machine).toBe(machine);
            last = next.id;
            state = next.state;
          }
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it(`IDs from different machines never collide, floors or not (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -50, max: 50 }), fc.boolean()), { maxLength: 2_000 }), (ops) => {
        const gens = [0, 1, 2, 3].map((m) => snowflakeInit(m));
        const seen = new Set<string>();
        let now = T;
        let floor: string | null = null;
        for (const [m, step, useFloor] of ops) {
          now += step;
          const next = snowflakeNext(gens[m]!, now, useFloor ? floor : null);
          gens[m] = next.state;
          expect(seen.has(next.id)).toBe(false);
          if (useFloor && floor !== null) expect(next.id > floor).toBe(true);
          seen.add(next.id);
          floor = next.id;
        }
      }),
      { seed, numRuns: 100 },
    );
  });
});

describe("conversation IDs", () => {
  it("a direct chat's ID is the same from both sides", () => {
    expect(directConversationId("u_b", "u_a")).toBe("d.u_a.u_b");
    expect(directConversationId("u_a", "u_b")).toBe("d.u_a.u_b");
    const ref = parseConversationId("d.u_a.u_b");
    expect(ref).toEqual({ kind: "direct", conversation_id: "d.u_a.u_b", user_ids: ["u_a", "u_b"] });
    expect(directPeer(ref!, "u_a")).toBe("u_b");
    expect(directPeer(ref!, "u_c")).toBeNull();
  });

  it("a group's ID comes from its group ID, and junk parses to null", () => {
    expect(groupConversationId("g1")).toBe("g.g1");
    expect(parseConversationId("g.g1")).toEqual({ kind: "group", conversation_id: "g.g1", group_id: "g1" });
    for (const junk of ["", "d.a", "d.b.a", "x.a.b", "g.", "d.a.a", "g.a.b"]) expect(parseConversationId(junk)).toBeNull();
  });

  it(`direct IDs are injective and symmetric (seed ${seed})`, () => {
    const user = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(user, user, user, user, (a, b, c, d) => {
        fc.pre(a !== b && c !== d);
        const same = directConversationId(a, b) === directConversationId(c, d);
        const samePair = (a === c && b === d) || (a === d && b === c);
        expect(same).toBe(samePair);
        expect(parseConversationId(directConversationId(a, b))?.kind).toBe("direct");
      }),
      { seed, numRuns: 500 },
    );
  });
});

describe("opaque IDs", () => {
  it("are prefix plus 20 base-32 characters from the draws", () => {
    let n = 0;
    const id = opaqueId("u", () => (n += 0x9e3779b9) >>> 0);
    expect(id).toMatch(/^u[0-9a-z]{20}$/);
  });
});
