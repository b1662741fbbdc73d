/**
 * The Fastify instance every node role starts from: JSON bodies as text for the protocol's
 * decoders (the upload route reads its own body, see api.ts), errors in the contract's shape
 * (also those Node and Fastify answer before a route runs), an honest 404, and /healthz and
 * /metrics.
 *
 * Bounds before work: only `application/json` bodies are parsed here (anything else is 415
 * before a byte is read), at most `bodyBytesMax` (a larger Content-Length is 413 unread),
 * headers within `headersTimeoutMs` and the whole request within `requestTimeoutMs` (408).
 */
import { timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Limits } from "../../core/limits.js";
import { apiError, errorBody, httpStatusOf, type ErrorCode } from "../../core/protocol/errors.js";
import type { Metrics } from "../metrics.js";
import { fail } from "./errors.js";

/** Largest request head (request line and headers) Node parses; larger is 431. */
const HEADER_BYTES_MAX = 16 * 1024;

const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

/**
 * A request Node refused before Fastify saw it (malformed, too large a head, too slow),
 * answered in the contract's shape on the raw socket, then closed.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [code, message]: [ErrorCode, string] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? ["HEADERS_TOO_LARGE", `The request's headers are larger than ${HEADER_BYTES_MAX} bytes.`]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? ["REQUEST_TIMEOUT", "The request did not arrive in time; send it again, faster."]
        : ["MALFORMED_REQUEST", "The request is not valid HTTP/1.1."];
  const status = httpStatusOf(code);
  const body = JSON.stringify(errorBody(apiError(code, message)));
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export type AppOptions = {
  /** When set, /metrics answers only requests bearing this token (the rest get 401). */
  readonly metrics_token?: string | undefined;
};

export function createApp(
  log: Logger,
  limits: Limits,
  metrics: Metrics,
  health: () => "ok" | "starting" | "draining",
  gauges: () => void = () => undefined,
  options: AppOptions = {},
): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: limits.bodyBytesMax,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks its timeouts every connectionsCheckingInterval; by default 30 s, which let a
    // half-open upgrade sit 81 s before its 408.
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 4)), maxHeaderSize: HEADER_BYTES_MAX },
    clientErrorHandler: answerClientError,
    frameworkErrors: (error, req, reply) => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (error.code === "FST_ERR_BAD_URL") return fail(reply, "MALFORMED_REQUEST", "The request URL is not validly percent-encoded.");
      return fail(reply, "NOT_FOUND", `No route for ${req.method} ${path.slice(0, 200)}.`);
    },
  }) as unknown as FastifyInstance;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: limits.bodyBytesMax }, (_req, body, done) => done(null, body));
  app.setErrorHandler((error: { code?: string; statusCode?: number; message: string }, _req, reply) => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return fail(reply, "BODY_TOO_LARGE", `The body is larger than ${limits.bodyBytesMax} bytes.`);
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return fail(reply, "UNSUPPORTED_MEDIA_TYPE", "Send JSON with Content-Type: application/json.");
    if (error.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return fail(reply, "MALFORMED_JSON", "A JSON body is required.");
    if (error.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH") return fail(reply, "MALFORMED_REQUEST", "The Content-Length does not match the body.");
    // Never Fastify's own wording (it names its internals): the status says what kind of fault it was.
    if (error.statusCode === 408) return fail(reply, "REQUEST_TIMEOUT", "The request did not arrive in time; send it again, faster.");
    if (error.statusCode !== undefined && error.statusCode < 500) return fail(reply, "MALFORMED_REQUEST", "The request could not be read.");
    log.error({ err: error }, "request failed");
    return fail(reply, "INTERNAL", "Something went wrong on our side; retry.");
  });
  app.setNotFoundHandler((req, reply) => fail(reply, "NOT_FOUND", `No route for ${req.method} ${req.url.split("?")[0]}.`));
  app.get("/healthz", (_req, reply) => {
    const status = health();
    return status === "ok" ? reply.send({ status }) : reply.code(503).send({ status });
  });
  const metrics_auth = options.metrics_token === undefined ? null : Buffer.from(`Bearer ${options.metrics_token}`);
  app.get("/metrics", async (req, reply) => {
    if (metrics_auth !== null) {
      const given = Buffer.from(req.headers.authorization ?? "");
      if (given.length !== metrics_auth.length || !timingSafeEqual(given, metrics_auth)) return fail(reply, "UNAUTHENTICATED", "/metrics needs the metrics token as a bearer token.");
    }
    gauges();
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
