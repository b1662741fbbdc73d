/**
 * The gateway's end of the router -> gateway link: a gRPC server for the Gateway service
 * (gateway.proto). It decodes a batch, hands it to `receive`, and answers; the reply is the
 * router's signal that the gateway took the batch. Rules: malformed input is refused with
 * INVALID_ARGUMENT naming the field and never reaches `receive`; nothing a peer sends can
 * crash the node; requests are bounded in count and bytes (GATEWAY_LINK_LIMITS).
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { Delivery } from "../../core/model.js";
import { decodeDeliveries } from "./delivery-decode.js";
import { GATEWAY_LINK_LIMITS, gatewayServiceDefinition, type DeliverReply, type DeliverRequest } from "./gateway-service.js";

export type GatewayGrpcServerOptions = {
  /** Interface to bind; 127.0.0.1 unless the nodes sit on a private network. */
  host: string;
  /** 0 picks an ephemeral port (read it back from the result). */
  port: number;
  /** Takes a decoded batch; the call is answered once this returns (or its promise resolves). */
  receive: (deliveries: Delivery[]) => void | Promise<void>;
  /** When set, a request addressed to another gateway is refused with FAILED_PRECONDITION. */
  gateway_id?: string;
  /** How long close() waits for calls in flight before cutting them off. */
  close_grace_ms?: number;
};

export type GatewayGrpcServer = { readonly port: number; close(): Promise<void> };

/** Starts the Gateway gRPC server and resolves once it is listening. */
export async function startGatewayGrpcServer(options: GatewayGrpcServerOptions): Promise<GatewayGrpcServer> {
  const server = new Server({
    "grpc.max_receive_message_length": GATEWAY_LINK_LIMITS.requestBytesMax,
  });
  server.addService(gatewayServiceDefinition(), {
    Deliver: (call: ServerUnaryCall<DeliverRequest, DeliverReply>, callback: sendUnaryData<DeliverReply>) => {
      handleDeliver(options, call.request).then(
        (reply) => callback(null, reply),
        (error: unknown) => callback(toServiceError(error)),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(new Error(`gateway gRPC server could not bind ${options.host}:${options.port}: ${error.message}`)),
    );
  });
  const grace_ms = options.close_grace_ms ?? 1_000;
  let closing: Promise<void> | null = null;
  return {
    port,
    close: () => (closing ??= shutdown(server, grace_ms)),
  };
}

type Refusal = { code: status; details: string };

async function handleDeliver(options: GatewayGrpcServerOptions, request: DeliverRequest): Promise<DeliverReply> {
  const refusal = check(options, request);
  if (refusal !== null) throw new RefusedError(refusal);
  const decoded = decodeDeliveries(request.deliveries);
  if (!decoded.ok) throw new RefusedError({ code: status.INVALID_ARGUMENT, details: decoded.message });
  await options.receive(decoded.deliveries);
  return { accepted: decoded.deliveries.length };
}

function check(options: GatewayGrpcServerOptions, request: DeliverRequest): Refusal | null {
  if (!Array.isArray(request.deliveries)) return { code: status.INVALID_ARGUMENT, details: "deliveries is missing" };
  if (request.deliveries.length > GATEWAY_LINK_LIMITS.deliveriesPerCallMax) {
    return {
      code: status.RESOURCE_EXHAUSTED,
      details: `deliveries holds ${request.deliveries.length} elements, more than the ${GATEWAY_LINK_LIMITS.deliveriesPerCallMax} allowed per call`,
    };
  }
  if (options.gateway_id !== undefined && request.gateway_id !== options.gateway_id) {
    return {
      code: status.FAILED_PRECONDITION,
      details: `gateway_id "${request.gateway_id}" does not match this gateway ("${options.gateway_id}")`,
    };
  }
  return null;
}

class RefusedError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.details);
  }
}

/** A refusal keeps its own status; anything else is a failure of `receive` (INTERNAL). */
function toServiceError(error: unknown): Refusal {
  if (error instanceof RefusedError) return error.refusal;
  const reason = error instanceof Error ? error.message : String(error);
  return { code: status.INTERNAL, details: `gateway could not take the batch: ${reason}` };
}

function shutdown(server: Server, grace_ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, grace_ms);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
