/**
 * What the fuzzer sends: WebSocket frames and REST requests drawn from one seeded generator,
 * so a seed names the exact sequence (replay it with FUZZ_SEED). Most inputs are valid
 * frames and bodies with one thing broken (a field dropped, of the wrong type, too long, an
 * unknown event), the rest are random JSON, garbage and protocol-level oddities; a share is
 * valid, so the paths behind validation are exercised too.
 *
 * Rules: nothing here does IO; every string and array has a stated bound (a few inputs are
 * deliberately just over the node's limits).
 */
import seedrandom from "seedrandom";

export type Draw = {
  /** A float in [0, 1). */
  (): number;
};

export function generator(seed: number): Draw {
  return seedrandom.alea(String(seed)) as unknown as Draw;
}

const int = (r: Draw, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Draw, items: readonly T[]): T => items[int(r, items.length)]!;
const chance = (r: Draw, p: number): boolean => r() < p;

const ODD_STRINGS = [
  "",
  " ",
  "\u0000",
  "\ud800",
  "😀".repeat(10),
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "%00",
  "${jndi:ldap://x}",
  "' OR 1=1 --",
  "__proto__",
  "constructor",
  "null",
  "-1",
  "1e309",
  "0x41",
  "d.u1.u2",
  "g.x",
  "\r\nSet-Cookie: a=b",
];

/** A string: short ordinary, odd, or long (up to `long_max` characters). */
export function anyString(r: Draw, long_max = 5_000): string {
  const k = r();
  if (k < 0.4) return Math.floor(r() * 1e12).toString(36);
  if (k < 0.75) return pick(r, ODD_STRINGS);
  if (k < 0.95) return "a".repeat(int(r, 300));
  return "b".repeat(int(r, long_max));
}

/** Any JSON value, nested up to `depth` levels. */
export function anyJson(r: Draw, depth = 3): unknown {
  const k = r();
  if (depth <= 0 || k < 0.2) return pick(r, [null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), Number.MAX_VALUE]);
  if (k < 0.5) return anyString(r);
  if (k < 0.7) return Array.from({ length: int(r, 5) }, () => anyJson(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = int(r, 5); i > 0; i--) o[chance(r, 0.3) ? pick(r, ["to", "data", "event", "__proto__", "user_ids", "message_id"]) : anyString(r, 40)] = anyJson(r, depth - 1);
  return o;
}

/** Breaks one thing in `value` (an object): drops, retypes, lengthens or adds a field. */
export function mutate(r: Draw, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  const keys = Object.keys(out);
  const k = r();
  if (keys.length > 0 && k < 0.25) delete out[pick(r, keys)];
  else if (keys.length > 0 && k < 0.6) out[pick(r, keys)] = anyJson(r, 2);
  else if (keys.length > 0 && k < 0.8) out[pick(r, keys)] = anyString(r);
  else out[anyString(r, 30)] = anyJson(r, 2);
  return out;
}

export type Known = {
  /** Users that exist (attackers and their victims). */
  readonly user_ids: readonly string[];
  readonly group_ids: readonly string[];
  readonly conversation_ids: readonly string[];
  readonly message_ids: readonly string[];
};

const uuid = (r: Draw): string => {
  const hex = (n: number): string => Array.from({ length: n }, () => "0123456789abcdef"[int(r, 16)]).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
};
const messageId = (r: Draw, known: Known): string => (known.message_ids.length > 0 && chance(r, 0.5) ? pick(r, known.message_ids) : String(1e18 + int(r, 1e15)).padStart(19, "0"));

/** A valid client frame (as far as its shape goes) about the known world. */
export function validFrame(r: Draw, known: Known): { event: string; data: Record<string, unknown> } {
  const user = (): string => (known.user_ids.length > 0 && chance(r, 0.8) ? pick(r, known.user_ids) : `u${Math.floor(r() * 1e9).toString(36)}`);
  const group = (): string => (known.group_ids.length > 0 && chance(r, 0.8) ? pick(r, known.group_ids) : `g${Math.floor(r() * 1e9).toString(36)}`);
  switch (int(r, 8)) {
    case 0:
      return { event: "send_message", data: { to: user(), content: anyString(r, 4_000) || "x", type: pick(r, ["text", "image", "file"]), client_msg_id: uuid(r) } };
    case 1:
      return { event: "send_group_message", data: { group_id: group(), content: "hi", type: "text", client_msg_id: uuid(r) } };
    case 2:
      return { event: "typing", data: chance(r, 0.5) ? { to: user() } : { group_id: group() } };
    case 3:
      return {
        event: "ack",
        data: { message_id: messageId(r, known), status: pick(r, ["delivered", "read"]), ...(chance(r, 0.5) && known.conversation_ids.length > 0 ? { conversation_id: pick(r, known.conversation_ids) } : {}) },
      };
    case 4:
      return { event: "subscribe_presence", data: { user_ids: Array.from({ length: 1 + int(r, 100) }, user) } };
    case 5:
      return { event: "unsubscribe_presence", data: { user_ids: Array.from({ length: 1 + int(r, 10) }, user) } };
    default:
      return { event: "heartbeat", data: {} };
  }
}

/** One WebSocket frame as sent on the wire: text, or bytes for a binary frame. */
export type FuzzFrame = { readonly text: string; readonly binary: boolean };

export function fuzzFrame(r: Draw, known: Known): FuzzFrame {
  const k = r();
  if (k < 0.12) return { text: JSON.stringify({ event: "heartbeat", data: {} }), binary: false }; // keeps the rejected run short
  if (k < 0.35) return { text: JSON.stringify(validFrame(r, known)), binary: false };
  if (k < 0.65) {
    const frame = validFrame(r, known);
    return { text: JSON.stringify(chance(r, 0.7) ? { event: frame.event, data: mutate(r, frame.data) } : mutate(r, frame as unknown as Record<string, unknown>)), binary: false };
  }
  if (k < 0.8) return { text: JSON.stringify(anyJson(r, 4)), binary: false };
  if (k < 0.88) return { text: anyString(r, 2_000), binary: false };
  if (k < 0.92) return { text: JSON.stringify({ event: anyString(r, 100), data: anyJson(r, 2) }), binary: false };
  if (k < 0.95) return { text: `${"[".repeat(1 + int(r, 5_000))}`, binary: false };
  if (k < 0.98) return { text: anyString(r, 500), binary: true };
  // Just over the frame limit: the connection closes with 1009 and the fuzzer opens another.
  return { text: JSON.stringify({ event: "send_message", data: { content: "z".repeat(65 * 1024) } }), binary: false };
}

export type FuzzRequest = {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | null;
};

/** encodeURIComponent, which throws on a lone surrogate: that one goes as its raw (invalid) bytes. */
const enc = (text: string): string => {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%ED%A0%80";
  }
};

const REST_ROUTES: readonly (readonly [string, (r: Draw, k: Known) => string, () => Record<string, unknown> | null])[] = [
  ["POST", () => "/api/v1/users", () => ({ username: "fz_user", password: "correct horse battery" })],
  ["POST", () => "/api/v1/sessions", () => ({ username: "fz_user", password: "wrong password here" })],
  ["GET", (r) => `/api/v1/users?username=${enc(anyString(r, 60))}`, () => null],
  ["GET", (r, k) => `/api/v1/users/${k.user_ids.length > 0 && chance(r, 0.7) ? pick(r, k.user_ids) : enc(anyString(r, 100))}`, () => null],
  ["GET", (r, k) => `/api/v1/users/${k.user_ids.length > 0 ? pick(r, k.user_ids) : "u1"}/presence`, () => null],
  ["POST", () => "/api/v1/devices", () => ({ platform: "webhook", token: "http://169.254.169.254/latest/meta-data" })],
  ["GET", (r) => `/api/v1/conversations?limit=${enc(anyString(r, 20))}&before=${enc(anyString(r, 30))}`, () => null],
  ["GET", (r, k) => `/api/v1/conversations/${k.conversation_ids.length > 0 && chance(r, 0.7) ? pick(r, k.conversation_ids) : enc(anyString(r, 90))}/messages?limit=${int(r, 200) - 50}`, () => null],
  ["POST", () => "/api/v1/groups", () => ({ name: "fuzz group", member_ids: [] })],
  ["GET", (r, k) => `/api/v1/groups/${k.group_ids.length > 0 && chance(r, 0.7) ? pick(r, k.group_ids) : enc(anyString(r, 90))}`, () => null],
  ["POST", (r, k) => `/api/v1/groups/${k.group_ids.length > 0 ? pick(r, k.group_ids) : "g1"}/members`, () => ({ user_ids: ["u1"] })],
  ["DELETE", (r, k) => `/api/v1/groups/${k.group_ids.length > 0 ? pick(r, k.group_ids) : "g1"}/members/${k.user_ids.length > 0 ? pick(r, k.user_ids) : "u1"}`, () => null],
  ["POST", () => "/api/v1/media", () => ({ content_type: "image/png", size: 100, filename: "a.png" })],
  ["GET", (r) => `/api/v1/media/${enc(anyString(r, 100))}?conversation_id=${enc(anyString(r, 40))}`, () => null],
  ["PUT", (r) => `/media/${enc(anyString(r, 40))}/upload?expires=${int(r, 2e12)}&sig=${"0".repeat(int(r, 70))}`, () => ({})],
  ["GET", (r) => `/media/${enc(anyString(r, 40))}/download?expires=${anyString(r, 20)}&sig=${anyString(r, 70)}`, () => null],
  ["POST", () => "/api/v1/media/uploads", () => ({ content_type: "video/mp4", size: 6 * 1024 * 1024, filename: "a.mp4" })],
  ["GET", (r) => `/api/v1/media/uploads/${enc(anyString(r, 100))}`, () => null],
  ["POST", (r) => `/api/v1/media/uploads/${enc(anyString(r, 100))}/parts`, () => ({ part_numbers: [1, 2] })],
  ["POST", (r) => `/api/v1/media/uploads/${enc(anyString(r, 100))}/complete`, () => null],
  ["DELETE", (r) => `/api/v1/media/uploads/${enc(anyString(r, 100))}`, () => null],
  ["PUT", (r) => `/media/${enc(anyString(r, 40))}/parts/${int(r, 12_000)}?expires=${int(r, 2e12)}&sig=${"0".repeat(int(r, 70))}`, () => ({})],
  // Sign-out of someone else's or a made-up device (404), never the attacker's own: that would
  // revoke its token and leave the rest of the run to 401s.
  ["DELETE", (r) => `/api/v1/sessions/${enc(anyString(r, 90)) || "d1"}`, () => null],
  ["PUT", () => "/api/v1/users/me/password", () => ({ current_password: "wrong password here", new_password: "another long password" })],
  ["GET", () => "/healthz", () => null],
  ["GET", (r) => pick(r, ["/", "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/x", "/%", "/api", "/api/v1", "/api/v2/users", "/ws", "/app.js", "/\u00ff"]), () => null],
];

/** One REST request: a route's valid-ish shape, with its method, path, auth, type or body broken at random. */
export function fuzzRequest(r: Draw, known: Known, tokens: { valid: readonly string[] }): FuzzRequest {
  const [method0, path0, body0] = pick(r, REST_ROUTES);
  const method = chance(r, 0.08) ? pick(r, ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) : method0;
  const path = path0(r, known);
  const headers: Record<string, string> = {};
  const auth = r();
  if (auth < 0.6 && tokens.valid.length > 0) headers.authorization = `Bearer ${pick(r, tokens.valid)}`;
  else if (auth < 0.75) headers.authorization = pick(r, ["Bearer ", "Bearer v1.e30.AAAA", "Basic YTpi", `Bearer ${anyString(r, 200)}`, "Bearer v1..", "bearer x"]);
  else if (auth < 0.8 && tokens.valid.length > 0) headers.authorization = `Bearer ${pick(r, tokens.valid)}${pick(r, ["x", "A", "==", "."])}`;
  let body: string | null = null;
  const template = body0();
  if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
    const k = r();
    if (template !== null && k < 0.35) body = JSON.stringify(template);
    else if (template !== null && k < 0.7) body = JSON.stringify(mutate(r, template));
    else if (k < 0.85) body = JSON.stringify(anyJson(r, 4));
    else if (k < 0.97) body = anyString(r, 2_000);
    else body = JSON.stringify({ junk: "q".repeat(300 * 1024) }); // over the JSON limit
    const t = r();
    headers["content-type"] = t < 0.8 ? "application/json" : pick(r, ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "application/jsonx", "*/*"]);
  }
  return { method, path, headers, body };
}
