import { describeGatewayLinkContract } from "../contract/gateway-link.contract.js";
import { describe, expect, it } from "vitest";
import { GatewayLinkMemory } from "./gateway-link-memory.js";
import type { Delivery } from "../../core/model.js";

const typing = (connection_id: string): Delivery => ({ kind: "typing", connection_id, from: "u", conversation_id: "d.u.v", group_id: null });

describe("GatewayLinkMemory", () => {
  it("hands a batch to the registered gateway's handler", async () => {
    const link = new GatewayLinkMemory();
    const got: Delivery[][] = [];
    link.register("gw1", (deliveries) => {
      got.push([...deliveries]);
    });
    await link.deliver("gw1", [typing("c1"), typing("c2")]);
    expect(got).toEqual([[typing("c1"), typing("c2")]]);
  });

  it("rejects, without throwing synchronously, for an unknown or unregistered gateway", async () => {
    const link = new GatewayLinkMemory();
    let pending: Promise<void> | null = null;
    expect(() => {
      pending = link.deliver("nowhere", [typing("c1")]);
    }).not.toThrow();
    await expect(pending).rejects.toThrow(/'nowhere' is not registered/);
    const unregister = link.register("gw1", () => undefined);
    unregister();
    await expect(link.deliver("gw1", [])).rejects.toThrow(/not registered/);
    link.register("gw2", () => undefined);
    link.unregister("gw2");
    await expect(link.deliver("gw2", [])).rejects.toThrow(/not registered/);
  });

  it("rejects when the handler fails, and waits for an async handler", async () => {
    const link = new GatewayLinkMemory();
    link.register("sync", () => {
      throw new Error("gateway full");
    });
    await expect(link.deliver("sync", [typing("c")])).rejects.toThrow(/gateway full/);
    let done = false;
    link.register("async", async () => {
      await Promise.resolve();
      done = true;
    });
    await link.deliver("async", [typing("c")]);
    expect(done).toBe(true);
  });

  it("keeps a newer registration when an older one's remover runs", async () => {
    const link = new GatewayLinkMemory();
    const removeOld = link.register("gw", () => undefined);
    let calls = 0;
    link.register("gw", () => {
      calls++;
    });
    removeOld();
    await link.deliver("gw", [typing("c")]);
    expect(calls).toBe(1);
  });

  it("copies the batch, so the handler never sees the caller's later changes", async () => {
    const link = new GatewayLinkMemory();
    let kept: readonly Delivery[] = [];
    link.register("gw", (deliveries) => {
      kept = deliveries;
    });
    const batch: Delivery[] = [typing("c1")];
    await link.deliver("gw", batch);
    batch.push(typing("c2"));
    expect(kept).toEqual([typing("c1")]);
  });

  it("hands the caller's own batch over with { copy: false }", async () => {
    const link = new GatewayLinkMemory({ copy: false });
    let kept: readonly Delivery[] = [];
    link.register("gw", (deliveries) => {
      kept = deliveries;
    });
    const batch: Delivery[] = [typing("c1")];
    await link.deliver("gw", batch);
    expect(kept).toBe(batch);
  });
});

describeGatewayLinkContract("GatewayLinkMemory", async () => {
  const link = new GatewayLinkMemory();
  return {
    link,
    serve: async (gateway_id, receive) => {
      const remove = link.register(gateway_id, receive);
      return async () => remove();
    },
    cleanup: async () => undefined,
  };
});
