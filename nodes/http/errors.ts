/** Answers in the contract's error shape; one place maps codes to statuses. */
import type { FastifyReply } from "fastify";
import { apiError, errorBody, httpStatusOf, type ApiError, type ErrorCode } from "../../core/protocol/errors.js";

export function fail(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  return failWith(reply, apiError(code, message));
}

export function failWith(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(httpStatusOf(error.code)).type("application/json").send(errorBody(error));
}
