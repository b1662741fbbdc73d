/**
 * The GatewayLink contract (core/ports/gateway-link.ts), as vitest tests that every
 * GatewayLink must pass: the in-process one, the gRPC one, and any other. What a router
 * relies on: a batch that resolves reached its gateway whole and equal, in order; a batch
 * that cannot be delivered rejects (never throws synchronously, never resolves), so the
 * pending store covers it; a receiver cannot see the caller change a batch afterwards.
 *
 * Rules of this suite: it speaks only the port and the harness; the harness starts a
 * receiving gateway under an ID and can stop it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Delivery } from "../../core/model.js";
import type { GatewayLink } from "../../core/ports/gateway-link.js";

export type GatewayLinkHarness = {
  readonly link: GatewayLink;
  /**
   * Starts a gateway that takes batches addressed to `gateway_id` with `receive` (a throw or
   * rejection there is the gateway refusing the batch); answers how to stop it.
   */
  serve(gateway_id: string, receive: (deliveries: readonly Delivery[]) => void | Promise<void>): Promise<() => Promise<void>>;
  /** Releases whatever the factory started. */
  cleanup(): Promise<void>;
};

const batch = (n: number, from = 0): Delivery[] =>
  Array.from({ length: n }, (_, i): Delivery => ({ kind: "typing", connection_id: `c-${from + i}`, from: "alice", conversation_id: "d.alice.bob", group_id: null }));

const message: Delivery = {
  kind: "message",
  connection_id: "c-1",
  user_id: "bob",
  device_id: "phone",
  message: {
    message_id: "0000000000000000042",
    conversation_id: "g.team",
    from: "alice",
    content: "hello ✓ \"quoted\" \n newline",
    type: "text",
    sent_at: "2026-11-28T09:45:59.123Z",
    group_id: "team",
    client_msg_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
  },
  prev_message_id: "0000000000000000041",
};

async function outcome(p: Promise<void>): Promise<"resolved" | "rejected"> {
  return p.then(
    () => "resolved" as const,
    () => "rejected" as const,
  );
}

export function describeGatewayLinkContract(name: string, factory: () => Promise<GatewayLinkHarness>): void {
  describe(`GatewayLink contract: ${name}`, () => {
    let h: GatewayLinkHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("delivers a batch whole and equal, and resolves only once the gateway took it", async () => {
      const got: Delivery[][] = [];
      await h.serve("gw-1", (d) => void got.push([...d]));
      await h.link.deliver("gw-1", [message, ...batch(3)]);
      expect(got).toEqual([[message, ...batch(3)]]);
    });

    it("keeps the order of batches delivered one after another to one gateway", async () => {
      const got: Delivery[][] = [];
      await h.serve("gw-1", (d) => void got.push([...d]));
      for (let i = 0; i < 5; i++) await h.link.deliver("gw-1", batch(2, i * 2));
      expect(got.flat().map((d) => d.connection_id)).toEqual(batch(10).map((d) => d.connection_id));
    });

    it("routes by gateway ID", async () => {
      const one: Delivery[] = [];
      const two: Delivery[] = [];
      await h.serve("gw-1", (d) => void one.push(...d));
      await h.serve("gw-2", (d) => void two.push(...d));
      await h.link.deliver("gw-2", batch(1, 7));
      await h.link.deliver("gw-1", batch(1, 3));
      expect(one.map((d) => d.connection_id)).toEqual(["c-3"]);
      expect(two.map((d) => d.connection_id)).toEqual(["c-7"]);
    });

    it("rejects, without throwing synchronously, for a gateway that never started", async () => {
      let p: Promise<void> | null = null;
      expect(() => (p = h.link.deliver("gw-nowhere", batch(1)))).not.toThrow();
      expect(await outcome(p!)).toBe("rejected");
    });

    it("rejects for a gateway that stopped", async () => {
      const stop = await h.serve("gw-1", () => undefined);
      await h.link.deliver("gw-1", batch(1));
      await stop();
      expect(await outcome(h.link.deliver("gw-1", batch(1)))).toBe("rejected");
    });

    it("rejects when the gateway refuses the batch", async () => {
      await h.serve("gw-1", () => {
        throw new Error("refused");
      });
      expect(await outcome(h.link.deliver("gw-1", batch(1)))).toBe("rejected");
    });

    it("does not let the gateway see the caller change a batch after handing it over", async () => {
      const got: Delivery[][] = [];
      await h.serve("gw-1", (d) => void got.push(d as Delivery[]));
      const mine = batch(2);
      await h.link.deliver("gw-1", mine);
      (mine[0] as { connection_id: string }).connection_id = "changed";
      mine.push(...batch(1, 9));
      expect(got[0]!.map((d) => d.connection_id)).toEqual(["c-0", "c-1"]);
    });
  });
}
