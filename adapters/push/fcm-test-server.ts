/**
 * A local stand-in for Google's OAuth token endpoint and the FCM HTTP v1 API, for tests:
 * one HTTP server that checks what they check and answers what they answer.
 *
 * Token endpoint (`POST /token`): a form body with grant_type
 * urn:ietf:params:oauth:grant-type:jwt-bearer and an `assertion` JWT: RS256, kid the key's
 * ID, signature verified with the service account's public key, iss the client_email, aud
 * this token_uri, scope including firebase.messaging, exp - iat at most 1 h and not passed
 * (400 {"error": "invalid_grant"} otherwise). Answers {access_token, expires_in, token_type}.
 *
 * Send (`POST /v1/projects/<project>/messages:send`): `authorization: Bearer <a token this
 * server issued and that has not expired>` (401 UNAUTHENTICATED), the project of the
 * account (403 PERMISSION_DENIED), a JSON body of at most 4096 bytes (400
 * INVALID_ARGUMENT "Message is too big"), `message.token` set, data values all strings (400
 * INVALID_ARGUMENT). Unregistered tokens get 404 UNREGISTERED; a token may get queued
 * replies first (429 QUOTA_EXCEEDED with Retry-After, 503 UNAVAILABLE). Accepted messages
 * answer 200 {"name": "projects/<p>/messages/<id>"} and are recorded.
 */
import { generateKeyPairSync, randomUUID, verify, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FcmServiceAccount } from "./push-fcm.js";

export type FcmReply = { readonly status: number; readonly status_text: string; readonly message?: string; readonly headers?: Record<string, string> };
export type FcmAccepted = { readonly token: string; readonly message: Record<string, unknown>; readonly body_bytes: number; readonly bearer: string };

export class FcmTestServer {
  readonly accepted: FcmAccepted[] = [];
  readonly answered: { path: string; token: string | null; status: number }[] = [];
  readonly unregistered = new Set<string>();
  /** Access tokens issued, with their expiry (wall clock ms). */
  readonly issued = new Map<string, number>();
  /** Lifetime of issued access tokens, in seconds (Google: 3599). */
  token_lifetime_s = 3599;
  private readonly queued = new Map<string, FcmReply[]>();

  private constructor(
    private readonly server: Server,
    readonly base_url: string,
    readonly service_account: FcmServiceAccount,
    private readonly public_key: KeyObject,
  ) {}

  static async start(project_id = "chat-test-project"): Promise<FcmTestServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const base_url = `http://127.0.0.1:${port}`;
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const account: FcmServiceAccount = {
      type: "service_account",
      project_id,
      private_key_id: randomUUID().replace(/-/g, ""),
      private_key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      client_email: `firebase-adminsdk@${project_id}.iam.gserviceaccount.com`,
      token_uri: `${base_url}/token`,
    };
    const fcm = new FcmTestServer(server, base_url, account, publicKey);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        let reply: { status: number; body: unknown; headers?: Record<string, string> };
        try {
          reply = fcm.answer(request.method ?? "", request.url ?? "", String(request.headers["authorization"] ?? ""), Buffer.concat(chunks));
        } catch (error) {
          reply = { status: 500, body: { error: { code: 500, status: "INTERNAL", message: error instanceof Error ? error.message : String(error) } } };
        }
        response.writeHead(reply.status, { "content-type": "application/json; charset=UTF-8", ...reply.headers });
        response.end(JSON.stringify(reply.body));
      });
    });
    return fcm;
  }

  queue(token: string, ...replies: FcmReply[]): void {
    this.queued.set(token, [...(this.queued.get(token) ?? []), ...replies]);
  }

  acceptedFor(token: string): FcmAccepted[] {
    return this.accepted.filter((a) => a.token === token);
  }

  /** How many access tokens were handed out. */
  get exchanges(): number {
    return this.issued.size;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(method: string, path: string, authorization: string, body: Buffer): { status: number; body: unknown; headers?: Record<string, string> } {
    if (method === "POST" && path === "/token") {
      const reply = this.token(body.toString("utf8"));
      this.answered.push({ path, token: null, status: reply.status });
      return reply;
    }
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    if (method !== "POST" || send === null) return { status: 404, body: { error: { code: 404, status: "NOT_FOUND", message: "no such method" } } };
    const reply = this.send(send[1]!, authorization, body);
    this.answered.push({ path, token: reply.token, status: reply.status });
    return reply;
  }

  private token(form: string): { status: number; body: unknown } {
    const invalid = (why: string) => ({ status: 400, body: { error: "invalid_grant", error_description: why } });
    const params = new URLSearchParams(form);
    if (params.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return { status: 400, body: { error: "unsupported_grant_type" } };
    const parts = (params.get("assertion") ?? "").split(".");
    if (parts.length !== 3) return invalid("Invalid JWT.");
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
    } catch {
      return invalid("Invalid JWT.");
    }
    if (header["alg"] !== "RS256" || header["kid"] !== this.service_account.private_key_id) return invalid("Invalid JWT Signature.");
    if (!verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), this.public_key, Buffer.from(parts[2]!, "base64url"))) return invalid("Invalid JWT Signature.");
    if (claims["iss"] !== this.service_account.client_email) return invalid("Invalid issuer.");
    if (claims["aud"] !== this.service_account.token_uri) return invalid("Invalid audience.");
    if (!String(claims["scope"] ?? "").split(" ").includes("https://www.googleapis.com/auth/firebase.messaging")) return invalid("Invalid scope.");
    const iat = Number(claims["iat"]);
    const exp = Number(claims["exp"]);
    const now_s = Date.now() / 1000;
    if (!Number.isFinite(iat) || !Number.isFinite(exp) || exp - iat > 3600 || exp < now_s || iat > now_s + 300) return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    const access_token = `ya29.${randomUUID()}`;
    this.issued.set(access_token, Date.now() + this.token_lifetime_s * 1000);
    return { status: 200, body: { access_token, expires_in: this.token_lifetime_s, token_type: "Bearer" } };
  }

  private send(project: string, authorization: string, body: Buffer): { status: number; body: unknown; token: string | null; headers?: Record<string, string> } {
    const error = (status: number, status_text: string, message: string, token: string | null = null, headers?: Record<string, string>) => ({
      status,
      token,
      body: { error: { code: status, message, status: status_text, details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: status_text }] } },
      ...(headers === undefined ? {} : { headers }),
    });
    const bearer = authorization.startsWith("Bearer ") ? authorization.slice(7) : "";
    const expiry = this.issued.get(bearer);
    if (expiry === undefined || expiry <= Date.now()) return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    if (project !== this.service_account.project_id) return error(403, "PERMISSION_DENIED", "Permission denied on the project.");
    if (body.length > 4096) return error(400, "INVALID_ARGUMENT", "Message is too big");
    let parsed: { message?: { token?: unknown; data?: unknown } };
    try {
      parsed = JSON.parse(body.toString("utf8")) as typeof parsed;
    } catch {
      return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    const message = parsed.message;
    if (typeof message !== "object" || message === null || typeof message.token !== "string") return error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
    const token = message.token;
    if (message.data !== undefined && (typeof message.data !== "object" || message.data === null || Object.values(message.data).some((v) => typeof v !== "string"))) {
      return error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': data values must be strings", token);
    }
    const queued = this.queued.get(token)?.shift();
    if (queued !== undefined) return error(queued.status, queued.status_text, queued.message ?? queued.status_text, token, queued.headers);
    if (this.unregistered.has(token)) return error(404, "UNREGISTERED", "Requested entity was not found.", token);
    this.accepted.push({ token, message: message as Record<string, unknown>, body_bytes: body.length, bearer });
    return { status: 200, token, body: { name: `projects/${project}/messages/${randomUUID()}` } };
  }
}
