/**
 * Words and numbers as the screen shows them: times, sizes, last seen, initials. Pure: the
 * current time and the time zone come in as values, so tests pin both.
 */

const DAY_MS = 86_400_000;

type Formatters = { day: Intl.DateTimeFormat; time: Intl.DateTimeFormat; weekday: Intl.DateTimeFormat; date: Intl.DateTimeFormat };

/** Building an Intl formatter costs far more than using one: one set per time zone. */
const formatters = new Map<string, Formatters>();

function formattersFor(timeZone: string | undefined): Formatters {
  const key = timeZone ?? "";
  let f = formatters.get(key);
  if (f === undefined) {
    const z = timeZone === undefined ? {} : { timeZone };
    f = {
      day: new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", ...z }), // YYYY-MM-DD: comparable as text
      time: new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", ...z }),
      weekday: new Intl.DateTimeFormat("en-GB", { weekday: "short", ...z }),
      date: new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", ...z }),
    };
    formatters.set(key, f);
  }
  return f;
}

function parts(ms: number, timeZone: string | undefined): { day: string; time: string; weekday: string; date: string } {
  const f = formattersFor(timeZone);
  return { day: f.day.format(ms), time: f.time.format(ms), weekday: f.weekday.format(ms), date: f.date.format(ms) };
}

/** A message's time: "14:05". */
export function clockTime(ms: number, timeZone?: string): string {
  return parts(ms, timeZone).time;
}

/** A list row's time: "14:05" today, "Yesterday", a weekday within a week, else a date. */
export function listTime(ms: number, now_ms: number, timeZone?: string): string {
  if (ms <= 0) return "";
  const then = parts(ms, timeZone);
  const now = parts(now_ms, timeZone);
  if (then.day === now.day) return then.time;
  if (then.day === parts(now_ms - DAY_MS, timeZone).day) return "Yesterday";
  if (now_ms - ms < 6 * DAY_MS) return then.weekday;
  return then.date;
}

/** A day divider between messages: "Today", "Yesterday", or a date. */
export function dayLabel(ms: number, now_ms: number, timeZone?: string): string {
  const then = parts(ms, timeZone);
  if (then.day === parts(now_ms, timeZone).day) return "Today";
  if (then.day === parts(now_ms - DAY_MS, timeZone).day) return "Yesterday";
  return then.date;
}

/** The calendar day of a time, for grouping messages under dividers. */
export function dayKey(ms: number, timeZone?: string): string {
  return formattersFor(timeZone).day.format(ms);
}

/** "online", or "last seen today at 14:05" / "last seen 3 Mar 2026", or "offline". */
export function presenceText(status: "online" | "offline" | null, last_seen_ms: number | null, now_ms: number, timeZone?: string): string {
  if (status === "online") return "online";
  if (status === null) return "";
  if (last_seen_ms === null || Number.isNaN(last_seen_ms)) return "offline";
  const label = dayLabel(last_seen_ms, now_ms, timeZone);
  const time = clockTime(last_seen_ms, timeZone);
  if (label === "Today") return `last seen today at ${time}`;
  if (label === "Yesterday") return `last seen yesterday at ${time}`;
  return `last seen ${label}`;
}

/** "512 B", "1.5 KB", "12 MB". */
export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, "") : Math.round(value)} ${units[unit]}`;
}

/** One or two letters for an avatar. */
export function initials(name: string): string {
  const words = name.split(/[\s._-]+/).filter((w) => w.length > 0);
  const first = words[0]?.[0] ?? "?";
  const second = words.length > 1 ? (words[1]?.[0] ?? "") : "";
  return (first + second).toUpperCase();
}

/** A stable hue for an ID, so an avatar keeps its colour. */
export function hueOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 360;
}

/** "alice is typing…", "alice and bob are typing…", "3 people are typing…". */
export function typingText(names: readonly string[], group: boolean): string {
  if (names.length === 0) return "";
  if (!group) return "typing…";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** Splits "alice, bob carol" into distinct usernames, in order. */
export function parseUsernames(text: string): string[] {
  const out: string[] = [];
  for (const name of text.toLowerCase().split(/[\s,;]+/)) {
    const n = name.replace(/^@/, "");
    if (n.length > 0 && !out.includes(n)) out.push(n);
  }
  return out;
}
