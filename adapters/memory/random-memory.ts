/**
 * Randomness: `RandomSystem` draws from the operating system's CSPRNG for real hosts (opaque
 * IDs must be unguessable); `RandomSeeded` is a small deterministic PRNG (sfc32, seeded
 * through splitmix32) so that a simulation or a property test replays exactly from its seed.
 *
 * Rules: both answer integers in [0, 2^32). `RandomSeeded` is not cryptographic and must
 * never mint IDs that guard access outside tests and the simulator. `RandomSystem` draws
 * `SYSTEM_BATCH_WORDS` words at a time, to amortise the system call.
 */
import { randomFillSync } from "node:crypto";
import type { Random } from "../../core/ports/clock.js";
import { assert } from "../../core/result.js";

const SYSTEM_BATCH_WORDS = 256;

export class RandomSystem implements Random {
  private readonly batch = new Uint32Array(SYSTEM_BATCH_WORDS);
  private next_index = SYSTEM_BATCH_WORDS;

  uint32(): number {
    if (this.next_index === this.batch.length) {
      randomFillSync(this.batch);
      this.next_index = 0;
    }
    const word = this.batch[this.next_index];
    this.next_index++;
    assert(word !== undefined, "RandomSystem: batch index in range");
    return word;
  }
}

export class RandomSeeded implements Random {
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any integer; only its low 32 bits matter. */
  constructor(seed: number) {
    assert(Number.isInteger(seed), `RandomSeeded: seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    // splitmix32 spreads even a tiny or zero seed over all four words of state, which sfc32
    // needs: an all-zero state would stay poor for many draws.
    let x = this.seed;
    const splitmix = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    // The first outputs of sfc32 still correlate with the seed; the reference discards them.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    // sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), 32-bit variant.
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
}
