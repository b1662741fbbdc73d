/**
 * Seeded randomness: one alea generator per named stream, derived from the run's seed, so
 * adding a node or a fault class does not shift every other stream's draws.
 */
import seedrandom from "seedrandom";

export class Rng {
  private readonly next: () => number;

  constructor(seed: string) {
    this.next = seedrandom.alea(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("Rng.pick from an empty list");
    return item;
  }

  uint32(): number {
    return Math.floor(this.next() * 4_294_967_296) >>> 0;
  }

  /** An RFC 4122 version-4 UUID from this stream. */
  uuid(): string {
    const hex = (n: number, digits: number): string => n.toString(16).padStart(digits, "0").slice(-digits);
    const a = this.uint32();
    const b = this.uint32();
    const c = this.uint32();
    const d = this.uint32();
    return `${hex(a, 8)}-${hex(b >>> 16, 4)}-4${hex(b & 0xfff, 3)}-${hex(0x8 | ((c >>> 28) & 0x3), 1)}${hex(c & 0xfff, 3)}-${hex(d, 8)}${hex(c >>> 12, 4)}`;
  }
}

export class RngTree {
  constructor(private readonly seed: number) {}

  stream(name: string): Rng {
    return new Rng(`${this.seed}:${name}`);
  }
}
