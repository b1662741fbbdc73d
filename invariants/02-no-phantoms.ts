/**
 * Invariant 2, no phantoms: every displayed message comes from a send that was invoked, none
 * from a `fail` send, and no two different messages share an ID.
 *
 * Decisions where INVARIANTS.md is silent:
 * - A display comes from a send when some send with the same (sender user, client_msg_id),
 *   not `fail`, was invoked at or before the display, with the same content and conversation.
 *   A display whose only sends failed is "from a fail send" (a definite error means nothing
 *   was stored; the router answers a retry of a stored send with `sent`, never an error).
 * - An "own" display must be of the displaying user's own message.
 * - One message_id named by two (sender, client_msg_id) pairs (in ok sends or displays), or
 *   in two conversations (sends, displays, histories), is a shared ID. One pair displayed
 *   with two contents is a phantom of one of them.
 * - The stored history may hold messages nobody displayed (an `info` send that applied), so
 *   a history ID is a phantom only by counting: a conversation's history may hold at most as
 *   many unexplained IDs as it has `info` sends nobody displayed.
 */
import type { History, Violation } from "./history.js";
import { deviceKey } from "./history.js";
import { derive, sendKey, type Derived } from "./internal/derive.js";
import { dev, list, msg } from "./internal/describe.js";
import { Report } from "./internal/report.js";

export const INVARIANT = 2;
export const NAME = "no-phantoms";

export function checkNoPhantoms(history: History, d: Derived = derive(history), report: Report = new Report(INVARIANT, NAME)): Violation[] {
  report.judge("displays", history.displays.length);

  for (const shown of history.displays) {
    // Built only for a violation: this loop runs once per display of a million-event history.
    const what = (): string => `${msg(shown.message_id, shown.client_msg_id)} from ${shown.from} shown on ${dev(shown.device)} at ${shown.at}`;
    if (shown.via === "own" && shown.from !== shown.device.user_id) {
      report.add(`${what()} is displayed as the device's own send but its sender is ${shown.from}.`);
    }
    const ops = d.sendsByKey.get(sendKey(shown.from, shown.client_msg_id));
    if (ops === undefined) {
      report.add(`${what()} comes from no invoked send.`);
      continue;
    }
    const live = ops.filter((op) => op.outcome !== "fail");
    if (live.length === 0) {
      report.add(`${what()} comes from a send that failed (a definite error).`);
      continue;
    }
    if (!live.some((op) => op.invoked_at <= shown.at)) {
      report.add(`${what()} was displayed before its send was invoked.`);
    } else if (!live.some((op) => op.content === shown.content)) {
      report.add(`${what()} shows content that its send never had.`);
    } else if (!live.some((op) => op.conversation_id === shown.conversation_id)) {
      report.add(`${what()} appears in ${shown.conversation_id}, a conversation its send was not in.`);
    }
  }

  checkSharedIds(history, report);
  checkContents(history, report);
  checkStoredHistory(history, d, report);
  return report.violations();
}

/** Where a message_id was seen, described only if it is part of a violation. */
type Sighting = { readonly key: string | null; readonly conversation_id: string; readonly where: () => string };

/** One message_id per (sender, client_msg_id) and per conversation. */
function checkSharedIds(history: History, report: Report): void {
  const first = new Map<string, Sighting>();
  const reported = new Set<string>();
  const note = (message_id: string, seen: Sighting): void => {
    if (reported.has(message_id)) return;
    const earlier = first.get(message_id);
    if (earlier === undefined) {
      first.set(message_id, seen);
    } else if (earlier.key !== null && seen.key !== null && earlier.key !== seen.key) {
      reported.add(message_id);
      report.add(`${msg(message_id)} names two different sends: ${earlier.where()} and ${seen.where()}.`);
    } else if (earlier.conversation_id !== seen.conversation_id) {
      reported.add(message_id);
      report.add(`${msg(message_id)} appears in two conversations: ${earlier.where()} and ${seen.where()}.`);
    } else if (earlier.key === null && seen.key !== null) {
      first.set(message_id, seen);
    }
  };
  for (const op of history.sends) {
    if (op.outcome !== "ok" || op.message_id === null) continue;
    note(op.message_id, {
      key: sendKey(op.device.user_id, op.client_msg_id),
      conversation_id: op.conversation_id,
      where: () => `client_msg_id ${op.client_msg_id} sent ok by ${dev(op.device)} in ${op.conversation_id}`,
    });
  }
  for (const shown of history.displays) {
    note(shown.message_id, {
      key: sendKey(shown.from, shown.client_msg_id),
      conversation_id: shown.conversation_id,
      where: () => `client_msg_id ${shown.client_msg_id} from ${shown.from} shown on ${dev(shown.device)} in ${shown.conversation_id}`,
    });
  }
  for (const [conversation_id, ids] of Object.entries(history.final.history)) {
    report.judge("history entries", ids.length);
    for (const message_id of ids) note(message_id, { key: null, conversation_id, where: () => `final.history of ${conversation_id}` });
  }
}

/** One content per (sender, client_msg_id) across displays. */
function checkContents(history: History, report: Report): void {
  const first = new Map<string, { content: string; device: string }>();
  const reported = new Set<string>();
  for (const shown of history.displays) {
    const key = sendKey(shown.from, shown.client_msg_id);
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, { content: shown.content, device: deviceKey(shown.device) });
    else if (earlier.content !== shown.content && !reported.has(key)) {
      reported.add(key);
      report.add(
        `${msg(shown.message_id, shown.client_msg_id)} from ${shown.from} is displayed with two contents: ${JSON.stringify(earlier.content)} on ${earlier.device} and ${JSON.stringify(shown.content)} on ${dev(shown.device)}.`,
      );
    }
  }
}

/** Stored IDs that no ok send, display or undisplayed info send can account for. */
function checkStoredHistory(history: History, d: Derived, report: Report): void {
  const unexplainedInfo = new Map<string, number>();
  for (const [key, ops] of d.sendsByKey) {
    if (ops.some((op) => op.outcome === "ok") || d.displayedIdsByKey.has(key)) continue;
    const conversations = new Set(ops.filter((op) => op.outcome === "info").map((op) => op.conversation_id));
    for (const conversation_id of conversations) unexplainedInfo.set(conversation_id, (unexplainedInfo.get(conversation_id) ?? 0) + 1);
  }
  for (const [conversation_id, ids] of Object.entries(history.final.history)) {
    const unknown = ids.filter((message_id) => !d.messages.has(message_id));
    const explainable = unexplainedInfo.get(conversation_id) ?? 0;
    if (unknown.length > explainable) {
      report.add(
        `final.history of ${conversation_id} holds ${unknown.length} message(s) no ok send or display accounts for (${list(unknown.map((id) => msg(id)))}), but only ${explainable} undisplayed info send(s) could explain them.`,
      );
    }
  }
}
