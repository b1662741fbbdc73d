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

export class Report {
  private readonly found: Violation[] = [];
  private unlisted = 0;

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
