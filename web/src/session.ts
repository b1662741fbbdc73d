/**
 * What the browser remembers between visits: the session (token and who we are) and the
 * names of users we have met, in localStorage; a one-line notice for the next page load in
 * sessionStorage. Everything read back is checked, since storage can hold anything.
 */

export type Session = {
  readonly token: string;
  readonly user_id: string;
  readonly username: string;
  readonly device_id: string;
  readonly expires_at: string;
};

const SESSION_KEY = "chat.session.v1";
const NAMES_KEY = "chat.names.v1";
const NOTICE_KEY = "chat.notice";
/** Names kept across visits; beyond this the oldest are forgotten. */
export const STORED_NAMES_MAX = 2_000;

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    if (raw === null) return null;
    const v = JSON.parse(raw) as Partial<Session>;
    if (typeof v.token !== "string" || typeof v.user_id !== "string" || typeof v.username !== "string" || typeof v.device_id !== "string") return null;
    if (typeof v.expires_at === "string" && Date.parse(v.expires_at) <= Date.now()) return null;
    return { token: v.token, user_id: v.user_id, username: v.username, device_id: v.device_id, expires_at: v.expires_at ?? "" };
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  localStorage.removeItem(SESSION_KEY);
}

export function loadNames(): Map<string, string> {
  try {
    const raw = localStorage.getItem(NAMES_KEY);
    if (raw === null) return new Map();
    const v = JSON.parse(raw) as unknown;
    if (!Array.isArray(v)) return new Map();
    return new Map(v.filter((e): e is [string, string] => Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string"));
  } catch {
    return new Map();
  }
}

export function saveNames(names: ReadonlyMap<string, string>): void {
  try {
    localStorage.setItem(NAMES_KEY, JSON.stringify([...names].slice(-STORED_NAMES_MAX)));
  } catch {
    // Storage full or blocked: names are only a cache.
  }
}

/** A sentence to show on the next page load (e.g. why we are back at sign-in). */
export function setNotice(text: string): void {
  try {
    sessionStorage.setItem(NOTICE_KEY, text);
  } catch {
    // Not important enough to fail over.
  }
}

export function takeNotice(): string | null {
  try {
    const text = sessionStorage.getItem(NOTICE_KEY);
    sessionStorage.removeItem(NOTICE_KEY);
    return text;
  } catch {
    return null;
  }
}
