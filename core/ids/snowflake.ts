/**
 * Snowflake IDs: 41 bits of milliseconds since EPOCH_MS, 10 bits of machine, 12 bits of
 * sequence. Rules of this file:
 * - The generator is a pure state machine: `next(state, now_ms, floor)` returns the new
 *   state and an ID. Time arrives as an input; nothing here reads a clock.
 * - IDs from one generator strictly increase, whatever the clock does: when the clock steps
 *   back we keep using the last millisecond, and when 4,096 IDs are asked for within one
 *   millisecond we borrow the next millisecond (the logical clock runs ahead of the wall
 *   clock until the wall clock catches up).
 * - `floor` lets a caller demand an ID above one it already saw (the router's per-
 *   conversation order, see core/router/ordering.ts); the generator jumps its logical clock
 *   past the floor's millisecond, which keeps IDs unique across machines because the
 *   machine bits stay ours.
 * - Two generators with the same machine number must never run at once; machine numbers
 *   are leased per process incarnation by the host.
 * - IDs are written as 19-digit zero-padded decimals so that string order is numeric order.
 */
import { assert } from "../result.js";

/** 2025-01-01T00:00:00Z: 41 bits of milliseconds from here last until the year 2094. */
export const EPOCH_MS = 1_735_689_600_000;
export const MACHINE_BITS = 10;
export const SEQUENCE_BITS = 12;
export const MACHINE_MAX = (1 << MACHINE_BITS) - 1;
export const SEQUENCE_MAX = (1 << SEQUENCE_BITS) - 1;
const TIMESTAMP_MAX = 2 ** 41 - 1;
export const ID_DIGITS = 19;

export type SnowflakeState = {
  readonly machine: number;
  /** Milliseconds since EPOCH_MS of the last ID issued (the logical clock), -1 before any. */
  readonly last_ms: number;
  readonly sequence: number;
};

export function snowflakeInit(machine: number): SnowflakeState {
  assert(Number.isInteger(machine) && machine >= 0 && machine <= MACHINE_MAX, `machine ${machine} out of range`);
  return { machine, last_ms: -1, sequence: 0 };
}

export type SnowflakeParts = { readonly ms: number; readonly machine: number; readonly sequence: number };

/**
 * The next ID at wall time `now_ms` (Unix milliseconds). With `floor`, the ID is also
 * greater than that ID.
 */
export function snowflakeNext(
  state: SnowflakeState,
  now_ms: number,
  floor: string | null = null,
): { state: SnowflakeState; id: string } {
  let ms = Math.max(0, Math.floor(now_ms) - EPOCH_MS);
  if (floor !== null) {
    // Strictly above the floor's millisecond keeps us above it for any machine and sequence.
    ms = Math.max(ms, snowflakeParse(floor).ms + 1);
  }
  let sequence = 0;
  if (ms <= state.last_ms) {
    ms = state.last_ms;
    sequence = state.sequence + 1;
    if (sequence > SEQUENCE_MAX) {
      ms = state.last_ms + 1;
      sequence = 0;
    }
  }
  assert(ms <= TIMESTAMP_MAX, "snowflake clock overflowed 41 bits");
  const next: SnowflakeState = { machine: state.machine, last_ms: ms, sequence };
  return { state: next, id: snowflakeFormat({ ms, machine: state.machine, sequence }) };
}

const SHIFT_MS = BigInt(MACHINE_BITS + SEQUENCE_BITS);
const SHIFT_MACHINE = BigInt(SEQUENCE_BITS);

export function snowflakeFormat(parts: SnowflakeParts): string {
  const value = (BigInt(parts.ms) << SHIFT_MS) | (BigInt(parts.machine) << SHIFT_MACHINE) | BigInt(parts.sequence);
  return value.toString().padStart(ID_DIGITS, "0");
}

export function snowflakeParse(id: string): SnowflakeParts {
  const value = BigInt(id);
  return {
    ms: Number(value >> SHIFT_MS),
    machine: Number((value >> SHIFT_MACHINE) & BigInt(MACHINE_MAX)),
    sequence: Number(value & BigInt(SEQUENCE_MAX)),
  };
}

/** Unix milliseconds encoded in an ID (its logical time, which may run ahead of the wall). */
export function snowflakeUnixMs(id: string): number {
  return snowflakeParse(id).ms + EPOCH_MS;
}

/** Compares two IDs; equal-length decimal strings compare as numbers. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
