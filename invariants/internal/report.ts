/**
 * Collects one checker's violations and caps them, so a history with a million broken
 * deliveries still prints a readable report: the first `VIOLATIONS_PER_CHECKER_MAX` in the
 * order found, then one closing violation that counts the rest.
 */
import type { Violation } from "../history.js";

export const VIOLATIONS_PER_CHECKER_MAX = 20;

/** "message 42 ..." becomes "Message 42 ..."; identifiers ("alice/phone", "client_msg_id") keep their case. */
function capitalised(sentence: string): string {
  const first = sentence.split(" ", 1)[0] ?? "";
  if (/[/_:]/.test(first)) return sentence;
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}

/**
 * What one checker judged, by kind ("messages", "deliveries", "receipts", "acks", "pending
 * entries", ...): the items it actually held against its rule, not merely read. A run whose
 * checker judged nothing of a kind passed that part vacuously; runs print these counts.
 */
export type Judged = Readonly<Record<string, number>>;

export class Report {
  private readonly found: Violation[] = [];
  private unlisted = 0;
  private readonly tally: Record<string, number> = {};

  constructor(
    private readonly invariant: number,
    private readonly name: string,
    private readonly listed_max: number = VIOLATIONS_PER_CHECKER_MAX,
  ) {}

  /** True once further violations are only counted; callers may skip building messages. */
  get full(): boolean {
    return this.found.length >= this.listed_max;
  }

  /** Records a violation; a sentence that starts with a plain word gets a capital letter. */
  add(message: string): void {
    if (this.full) this.unlisted += 1;
    else this.found.push({ invariant: this.invariant, name: this.name, message: capitalised(message) });
  }

  /** Counts a violation without building its message (only valid once `full`). */
  count(): void {
    if (this.full) this.unlisted += 1;
  }

  /** Counts `n` items of `kind` as judged (called once per kind and loop, not per item, where it can). */
  judge(kind: string, n = 1): void {
    if (n > 0) this.tally[kind] = (this.tally[kind] ?? 0) + n;
  }

  /** What this checker judged so far, by kind. */
  judged(): Judged {
    return { ...this.tally };
  }

  violations(): Violation[] {
    if (this.unlisted === 0) return this.found;
    return [
      ...this.found,
      {
        invariant: this.invariant,
        name: this.name,
        message: `... and ${this.unlisted} more violation${this.unlisted === 1 ? "" : "s"} of invariant ${this.invariant} (${this.name}) not listed.`,
      },
    ];
  }
}
