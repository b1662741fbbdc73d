/**
 * A local stand-in for APNs, for tests: an HTTP/2 server over TLS (a throw-away self-signed
 * certificate for 127.0.0.1, made with the openssl CLI) that checks what APNs checks and
 * answers what APNs answers (developer.apple.com, "Sending notification requests to APNs"
 * and "Handling notification responses from APNs").
 *
 * Checked, in APNs' order: POST; path /3/device/<hex token> (400 BadDeviceToken); a bearer
 * provider token (403 MissingProviderToken), an ES256 JWT whose kid and iss name the
 * configured key and team and whose signature verifies with the key's public half (403
 * InvalidProviderToken), issued less than an hour ago by the wall clock (403
 * ExpiredProviderToken); apns-topic (400 MissingTopic / TopicDisallowed); apns-push-type
 * (400 InvalidPushType); apns-priority 5 or 10, and 5 for background (400 BadPriority);
 * apns-collapse-id at most 64 bytes (400 BadCollapseId); apns-expiration an integer (400
 * BadExpirationDate); a body of at most 4096 bytes (413 PayloadTooLarge) that is a JSON
 * object with an `aps` dictionary (400 PayloadEmpty / BadPayload — APNs' own word for a
 * malformed one varies; the status is what a client acts on).
 *
 * Scripted: tokens marked unregistered get 410 {"reason":"Unregistered","timestamp"}; a
 * token may get a queue of replies first (429 TooManyRequests with Retry-After, 503
 * ServiceUnavailable, 403 ExpiredProviderToken). Accepted requests answer 200 with an
 * apns-id and are recorded, with the connection (session) they came on.
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomUUID, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSecureServer, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type ApnsReply = { readonly status: number; readonly reason?: string; readonly headers?: Record<string, string> };

export type ApnsAccepted = {
  readonly token: string;
  readonly headers: IncomingHttpHeaders;
  readonly payload: Record<string, unknown>;
  readonly body_bytes: number;
  /** Which connection it came on (sessions numbered from 1). */
  readonly session: number;
  readonly jwt: string;
};

export type ApnsTestKeys = { readonly key_id: string; readonly team_id: string; readonly private_key: string; readonly public_key: KeyObject };

/** A fresh P-256 key as APNs hands out (.p8, PKCS#8 PEM), with IDs of Apple's form. */
export function apnsTestKeys(key_id = "ABC123DEFG", team_id = "TEAM123456"): ApnsTestKeys {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { key_id, team_id, private_key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), public_key: publicKey };
}

/** A self-signed certificate for 127.0.0.1, from the openssl CLI. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "apns-cert-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      { stdio: "pipe" },
    );
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class ApnsTestServer {
  readonly accepted: ApnsAccepted[] = [];
  /** Every request's status, in arrival order. */
  readonly answered: { token: string; status: number; reason: string | null }[] = [];
  readonly unregistered = new Set<string>();
  private readonly queued = new Map<string, ApnsReply[]>();
  private sessions = 0;
  private readonly open_sessions = new Set<ServerHttp2Session>();

  private constructor(
    private readonly server: Http2SecureServer,
    readonly endpoint: string,
    readonly ca: string,
    readonly keys: ApnsTestKeys,
    readonly topic: string,
  ) {}

  static async start(keys: ApnsTestKeys = apnsTestKeys(), topic = "org.example.chat"): Promise<ApnsTestServer> {
    const tls = selfSignedCertificate();
    const server = createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const apns = new ApnsTestServer(server, `https://127.0.0.1:${port}`, tls.cert, keys, topic);
    server.on("session", (session) => {
      apns.sessions += 1;
      const number = apns.sessions;
      apns.open_sessions.add(session);
      session.on("close", () => apns.open_sessions.delete(session));
      session.on("stream", (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          let reply: ApnsReply;
          try {
            reply = apns.answer(headers, Buffer.concat(chunks), number);
          } catch (error) {
            // A bug of the stand-in must fail the test, not kill the process.
            reply = { status: 500, reason: `InternalServerError: ${error instanceof Error ? error.message : String(error)}` };
          }
          const body = reply.reason === undefined ? "" : JSON.stringify(reply.status === 410 ? { reason: reply.reason, timestamp: Date.now() } : { reason: reply.reason });
          stream.respond({ ":status": reply.status, "apns-id": String(headers["apns-id"] ?? randomUUID()), ...(body === "" ? {} : { "content-type": "application/json" }), ...reply.headers });
          stream.end(body);
        });
        stream.on("error", () => undefined);
      });
    });
    return apns;
  }

  /** Connections opened so far. */
  get connections(): number {
    return this.sessions;
  }

  /** `token` gets these replies before the normal answer. */
  queue(token: string, ...replies: ApnsReply[]): void {
    this.queued.set(token, [...(this.queued.get(token) ?? []), ...replies]);
  }

  acceptedFor(token: string): ApnsAccepted[] {
    return this.accepted.filter((a) => a.token === token);
  }

  async close(): Promise<void> {
    for (const session of this.open_sessions) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(headers: IncomingHttpHeaders, body: Buffer, session: number): ApnsReply {
    const path = String(headers[":path"] ?? "");
    const token = /^\/3\/device\/([^/?]+)$/.exec(path)?.[1] ?? "";
    const reply = this.check(headers, body, token, session);
    this.answered.push({ token, status: reply.status, reason: reply.reason ?? null });
    return reply;
  }

  private check(headers: IncomingHttpHeaders, body: Buffer, token: string, session: number): ApnsReply {
    if (headers[":method"] !== "POST") return { status: 405, reason: "MethodNotAllowed" };
    if (!/^(?:[0-9a-f]{2}){32,100}$/.test(token)) return { status: 400, reason: "BadDeviceToken" };
    const authorization = String(headers["authorization"] ?? "");
    if (!authorization.startsWith("bearer ")) return { status: 403, reason: "MissingProviderToken" };
    const jwt = authorization.slice("bearer ".length);
    const token_check = this.checkProviderToken(jwt);
    if (token_check !== null) return { status: 403, reason: token_check };
    const topic = headers["apns-topic"];
    if (topic === undefined) return { status: 400, reason: "MissingTopic" };
    if (topic !== this.topic) return { status: 400, reason: "TopicDisallowed" };
    const push_type = headers["apns-push-type"];
    if (push_type === undefined || !["alert", "background", "voip", "complication", "fileprovider", "mdm", "location", "liveactivity", "pushtotalk"].includes(String(push_type))) {
      return { status: 400, reason: "InvalidPushType" };
    }
    const priority = headers["apns-priority"] ?? "10";
    if (!["5", "10", "1"].includes(String(priority)) || (push_type === "background" && priority !== "5")) return { status: 400, reason: "BadPriority" };
    const collapse = headers["apns-collapse-id"];
    if (collapse !== undefined && Buffer.byteLength(String(collapse), "utf8") > 64) return { status: 400, reason: "BadCollapseId" };
    const expiration = headers["apns-expiration"];
    if (expiration !== undefined && !/^\d+$/.test(String(expiration))) return { status: 400, reason: "BadExpirationDate" };
    if (body.length === 0) return { status: 400, reason: "PayloadEmpty" };
    if (body.length > 4096) return { status: 413, reason: "PayloadTooLarge" };
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return { status: 400, reason: "BadPayload" };
    }
    if (typeof payload !== "object" || payload === null || typeof (payload as { aps?: unknown }).aps !== "object") return { status: 400, reason: "BadPayload" };
    const queued = this.queued.get(token);
    const next = queued?.shift();
    if (next !== undefined) return next;
    if (this.unregistered.has(token)) return { status: 410, reason: "Unregistered" };
    this.accepted.push({ token, headers, payload: payload as Record<string, unknown>, body_bytes: body.length, session, jwt });
    return { status: 200 };
  }

  /** null when the provider token is valid, else APNs' reason. */
  private checkProviderToken(jwt: string): string | null {
    const parts = jwt.split(".");
    if (parts.length !== 3) return "InvalidProviderToken";
    let header: { alg?: unknown; kid?: unknown };
    let claims: { iss?: unknown; iat?: unknown };
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as typeof header;
      claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as typeof claims;
    } catch {
      return "InvalidProviderToken";
    }
    if (header.alg !== "ES256" || header.kid !== this.keys.key_id || claims.iss !== this.keys.team_id || typeof claims.iat !== "number") return "InvalidProviderToken";
    const signature = Buffer.from(parts[2]!, "base64url");
    if (!verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.keys.public_key, dsaEncoding: "ieee-p1363" }, signature)) return "InvalidProviderToken";
    const age_s = Date.now() / 1000 - claims.iat;
    if (age_s > 3600) return "ExpiredProviderToken";
    if (age_s < -300) return "InvalidProviderToken";
    return null;
  }
}
