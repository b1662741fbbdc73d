/**
 * GatewayLink: how a router (or a gateway relaying typing) hands deliveries to the gateway
 * that holds a connection (gRPC between nodes, a function call in one process, the
 * simulated network in the simulator). Resolves when the gateway took the batch; rejects
 * when it could not be reached, in which case the pending store still holds every message.
 */
import type { Delivery } from "../model.js";

export interface GatewayLink {
  deliver(gateway_id: string, deliveries: readonly Delivery[]): Promise<void>;
}
