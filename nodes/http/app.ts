/**
 * The Fastify instance every node role starts from: JSON bodies as text for the protocol's
 * decoders, media bodies as bytes, errors in the contract's shape, an honest 404, and
 * /healthz and /metrics.
 */
import Fastify, { LogController, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Limits } from "../../core/limits.js";
import type { Metrics } from "../metrics.js";
import { fail } from "./errors.js";

export function createApp(log: Logger, limits: Limits, metrics: Metrics, health: () => "ok" | "starting" | "draining", gauges: () => void = () => undefined): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: limits.bodyBytesMax,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
  }) as unknown as FastifyInstance;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: limits.bodyBytesMax }, (_req, body, done) => done(null, body));
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: limits.mediaBytesMax }, (_req, body, done) => done(null, body));
  app.setErrorHandler((error: { code?: string; statusCode?: number; message: string }, _req, reply) => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return fail(reply, "BODY_TOO_LARGE", `The body is larger than ${limits.bodyBytesMax} bytes.`);
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return fail(reply, "UNSUPPORTED_MEDIA_TYPE", "Send JSON with Content-Type: application/json.");
    if (error.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return fail(reply, "MALFORMED_JSON", "A JSON body is required.");
    if (error.statusCode !== undefined && error.statusCode < 500) return fail(reply, "INVALID_FIELD", error.message);
    log.error({ err: error }, "request failed");
    return fail(reply, "INTERNAL", "Something went wrong on our side; retry.");
  });
  app.setNotFoundHandler((req, reply) => fail(reply, "NOT_FOUND", `No route for ${req.method} ${req.url.split("?")[0]}.`));
  app.get("/healthz", (_req, reply) => {
    const status = health();
    return status === "ok" ? reply.send({ status }) : reply.code(503).send({ status });
  });
  app.get("/metrics", async (_req, reply) => {
    gauges();
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
