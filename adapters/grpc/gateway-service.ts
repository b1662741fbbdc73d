/**
 * The Gateway service definition and the limits both ends of the link share. The service is
 * loaded once per process from the embedded proto text (gateway-proto.ts): proto-loader only
 * reads files, so the text is written to a private temporary directory, loaded, and removed.
 * That keeps compiled code independent of where (or whether) gateway.proto was copied.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { GATEWAY_PROTO_TEXT } from "./gateway-proto.js";

/** Limits of one Deliver call, checked by the server (and, for the count, by the client). */
export const GATEWAY_LINK_LIMITS = {
  /** Most deliveries in one request; a router splits larger batches. */
  deliveriesPerCallMax: 10_000,
  /** Largest request the server accepts (grpc.max_receive_message_length). */
  requestBytesMax: 4 * 1024 * 1024,
  /** Default per-call deadline of GatewayLinkGrpc. */
  deadlineMsDefault: 2_000,
} as const;

export type DeliverRequest = { gateway_id: string; deliveries: string[] };
export type DeliverReply = { accepted: number };

const serviceName = "chat.gateway.v1.Gateway";
let cached: ServiceDefinition | null = null;

/** The Gateway service definition, loaded on first use and shared afterwards. */
export function gatewayServiceDefinition(): ServiceDefinition {
  if (cached !== null) return cached;
  const directory = mkdtempSync(join(tmpdir(), "gateway-proto-"));
  try {
    const file = join(directory, "gateway.proto");
    writeFileSync(file, GATEWAY_PROTO_TEXT, { mode: 0o600 });
    // keepCase: field names stay snake_case as in the .proto; defaults: an empty repeated
    // field arrives as [] rather than undefined.
    const packageDefinition = loadSync(file, { keepCase: true, longs: Number, enums: String, defaults: true });
    const service = packageDefinition[serviceName];
    if (service === undefined || !("Deliver" in service)) {
      throw new Error(`gateway.proto does not define service ${serviceName} with rpc Deliver`);
    }
    cached = service as ServiceDefinition;
    return cached;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
