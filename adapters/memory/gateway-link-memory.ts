/**
 * GatewayLinkMemory: deliveries between roles in one process (the all-in-one node and tests).
 * A gateway registers a handler under its gateway_id; `deliver` hands it the batch.
 *
 * Rules: `deliver` rejects, never throws synchronously, when no handler is registered for the
 * gateway (it has stopped or never started) or when the handler fails; the caller then relies
 * on the pending store, as it would for an unreachable remote gateway. The batch is copied so
 * that a handler keeping it cannot see the caller's later changes, as over a real wire,
 * unless the owner opts out with `{ copy: false }` (the all-in-one node does; see there).
 */
import type { GatewayLink } from "../../core/ports/gateway-link.js";
import type { Delivery } from "../../core/model.js";

export type GatewayHandler = (deliveries: readonly Delivery[]) => void | Promise<void>;

export class GatewayLinkMemory implements GatewayLink {
  private readonly handlers = new Map<string, GatewayHandler>();
  private readonly copy: boolean;

  constructor(options: { copy?: boolean } = {}) {
    this.copy = options.copy ?? true;
  }

  /** Registers (or replaces) the handler of `gateway_id`; answers the function that removes it. */
  register(gateway_id: string, handler: GatewayHandler): () => void {
    this.handlers.set(gateway_id, handler);
    return () => {
      // Only remove our own registration: a newer one for the same gateway must survive.
      if (this.handlers.get(gateway_id) === handler) this.handlers.delete(gateway_id);
    };
  }

  unregister(gateway_id: string): void {
    this.handlers.delete(gateway_id);
  }

  async deliver(gateway_id: string, deliveries: readonly Delivery[]): Promise<void> {
    const handler = this.handlers.get(gateway_id);
    if (handler === undefined) {
      throw new Error(`GatewayLinkMemory.deliver: gateway '${gateway_id}' is not registered`);
    }
    await handler(this.copy ? (structuredClone(deliveries) as readonly Delivery[]) : deliveries);
  }
}
