/**
 * The router -> gateway link over real gRPC on 127.0.0.1 with ephemeral ports: what goes in
 * comes out equal, failures reject with an error naming the gateway, and bad input from a
 * peer is refused without hurting the server.
 */
import { readFileSync } from "node:fs";
import { credentials, makeGenericClientConstructor, status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { describeGatewayLinkContract } from "../contract/gateway-link.contract.js";
import type { Delivery } from "../../core/model.js";
import { GATEWAY_PROTO_TEXT } from "./gateway-proto.js";
import { GatewayLinkError, GatewayLinkGrpc } from "./gateway-link-grpc.js";
import { startGatewayGrpcServer, type GatewayGrpcServer } from "./gateway-server-grpc.js";
import { GATEWAY_LINK_LIMITS, gatewayServiceDefinition } from "./gateway-service.js";

const everyKind: Delivery[] = [
  {
    kind: "message",
    connection_id: "c-1",
    user_id: "bob",
    device_id: "phone",
    message: {
      message_id: "0000000000000000042",
      conversation_id: "d.alice.bob",
      from: "alice",
      content: "hello ✓ \"quoted\" \n newline",
      type: "text",
      sent_at: "2026-11-28T09:45:59.123Z",
      client_msg_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    },
    prev_message_id: null,
  },
  {
    kind: "message",
    connection_id: "c-1",
    user_id: "bob",
    device_id: "phone",
    message: {
      message_id: "0000000000000000043",
      conversation_id: "g.team",
      from: "alice",
      content: "to the group",
      type: "text",
      sent_at: "2026-11-28T09:46:00.000Z",
      group_id: "team",
      client_msg_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    },
    prev_message_id: "0000000000000000042",
  },
  {
    kind: "receipt",
    connection_id: "c-2",
    receipt: {
      message_id: "0000000000000000042",
      conversation_id: "d.alice.bob",
      status: "sent",
      client_msg_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    },
    prev_message_id: null,
  },
  {
    kind: "receipt",
    connection_id: "c-2",
    receipt: { message_id: "0000000000000000042", conversation_id: "d.alice.bob", status: "read", user_id: "bob" },
    prev_message_id: null,
  },
  {
    kind: "error",
    connection_id: "c-2",
    code: "RATE_LIMITED",
    message: "slow down",
    client_msg_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    retryable: true,
  },
  { kind: "typing", connection_id: "c-3", from: "alice", conversation_id: "d.alice.bob", group_id: null },
  { kind: "typing", connection_id: "c-3", from: "alice", conversation_id: "g.team", group_id: "team" },
  { kind: "presence", connection_id: "c-4", user_id: "alice", status: "online", last_seen_ms: null },
  { kind: "presence", connection_id: "c-4", user_id: "alice", status: "offline", last_seen_ms: 1_795_000_000_000 },
];

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function gateway(port = 0, gateway_id = "gw-1"): Promise<{ server: GatewayGrpcServer; batches: Delivery[][] }> {
  const batches: Delivery[][] = [];
  const server = await startGatewayGrpcServer({ host: "127.0.0.1", port, gateway_id, receive: (d) => void batches.push(d), close_grace_ms: 200 });
  cleanups.push(() => server.close());
  return { server, batches };
}

function link(addresses: Record<string, string>, deadline_ms?: number): GatewayLinkGrpc {
  const l = new GatewayLinkGrpc((id) => addresses[id] ?? null, deadline_ms === undefined ? {} : { deadline_ms });
  cleanups.push(() => l.close());
  return l;
}

async function rejection(promise: Promise<unknown>): Promise<GatewayLinkError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayLinkError);
  return error as GatewayLinkError;
}

describe("GatewayLinkGrpc with the gateway gRPC server", () => {
  it("embeds exactly the text of gateway.proto", () => {
    expect(GATEWAY_PROTO_TEXT).toBe(readFileSync(new URL("./gateway.proto", import.meta.url), "utf8"));
  });

  it("carries every Delivery kind and they arrive equal, in order", async () => {
    const { server, batches } = await gateway();
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    await l.deliver("gw-1", everyKind);
    expect(batches).toEqual([everyKind]);
  });

  it("carries a batch of 500 in one call, reusing the channel across calls", async () => {
    const { server, batches } = await gateway();
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    const batch = Array.from({ length: 500 }, (_, i): Delivery => ({ kind: "typing", connection_id: `c-${i}`, from: "alice", conversation_id: "d.alice.bob", group_id: null }));
    await l.deliver("gw-1", batch);
    await l.deliver("gw-1", batch.slice(0, 3));
    expect(batches.map((b) => b.length)).toEqual([500, 3]);
    expect(batches[0]).toEqual(batch);
  });

  it("rejects at once, naming the gateway, when no address is known", async () => {
    const l = link({});
    const error = await rejection(l.deliver("gw-nowhere", everyKind));
    expect(error.code).toBe("GATEWAY_UNKNOWN");
    expect(error.message).toContain('"gw-nowhere"');
  });

  it("rejects within the deadline when the gateway is stopped", async () => {
    const { server } = await gateway();
    const address = `127.0.0.1:${server.port}`;
    await server.close();
    const l = link({ "gw-1": address }, 300);
    const started = performance.now();
    const error = await rejection(l.deliver("gw-1", everyKind));
    expect(performance.now() - started).toBeLessThan(300 + 700);
    expect(["GATEWAY_DEADLINE_EXCEEDED", "GATEWAY_UNREACHABLE"]).toContain(error.code);
    expect(error.message).toContain(`"gw-1" at ${address}`);
  });

  it("refuses a malformed delivery with INVALID_ARGUMENT naming the field, and keeps serving", async () => {
    const { server, batches } = await gateway();
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    const { connection_id: _dropped, ...noConnection } = everyKind[5] as Extract<Delivery, { kind: "typing" }>;
    const error = await rejection(l.deliver("gw-1", [everyKind[0]!, noConnection as unknown as Delivery]));
    expect(error.grpc_code).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toContain("deliveries[1].connection_id must be a string");
    const badKind = await rejection(l.deliver("gw-1", [{ ...everyKind[0]!, kind: "gossip" } as unknown as Delivery]));
    expect(badKind.message).toContain("deliveries[0].kind");
    const badNested = await rejection(l.deliver("gw-1", [{ ...everyKind[2]!, receipt: { status: "sent" } } as unknown as Delivery]));
    expect(badNested.message).toContain("deliveries[0].receipt.message_id");
    expect(batches).toEqual([]); // Nothing of a refused batch reached the gateway.
    await l.deliver("gw-1", everyKind);
    expect(batches).toEqual([everyKind]);
  });

  it("refuses a batch addressed to another gateway (stale address book)", async () => {
    const { server } = await gateway(0, "gw-2");
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    const error = await rejection(l.deliver("gw-1", everyKind));
    expect(error.grpc_code).toBe(status.FAILED_PRECONDITION);
  });

  it("delivers again after the gateway restarts on the same port", async () => {
    const first = await gateway();
    const port = first.server.port;
    // The deadline leaves room for the reconnect backoff (at most 1 s by default).
    const l = link({ "gw-1": `127.0.0.1:${port}` }, 1_500);
    await l.deliver("gw-1", everyKind.slice(0, 1));
    await first.server.close();
    // The same channel sees the gateway down, so it is in reconnect backoff when it returns.
    expect((await rejection(l.deliver("gw-1", everyKind))).code).toBe("GATEWAY_DEADLINE_EXCEEDED");
    const second = await gateway(port);
    await l.deliver("gw-1", everyKind.slice(1, 2));
    expect(first.batches).toEqual([everyKind.slice(0, 1)]);
    expect(second.batches).toEqual([everyKind.slice(1, 2)]);
  });

  it("answers INTERNAL when the gateway cannot take the batch, and keeps serving", async () => {
    let fail = true;
    const server = await startGatewayGrpcServer({ host: "127.0.0.1", port: 0, receive: () => { if (fail) throw new Error("queue full"); } });
    cleanups.push(() => server.close());
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    const error = await rejection(l.deliver("gw-1", everyKind));
    expect(error.grpc_code).toBe(status.INTERNAL);
    expect(error.message).toContain("queue full");
    fail = false;
    await l.deliver("gw-1", everyKind);
  });

  it("bounds a call: more than 10,000 deliveries or 4 MiB is refused", async () => {
    const { server, batches } = await gateway();
    const l = link({ "gw-1": `127.0.0.1:${server.port}` });
    const tooMany = Array.from({ length: GATEWAY_LINK_LIMITS.deliveriesPerCallMax + 1 }, () => everyKind[5]!);
    expect((await rejection(l.deliver("gw-1", tooMany))).code).toBe("BATCH_TOO_LARGE");

    // A peer that ignores the client-side limits: the server still refuses.
    const Raw = makeGenericClientConstructor(gatewayServiceDefinition(), "Gateway");
    const raw = new Raw(`127.0.0.1:${server.port}`, credentials.createInsecure(), { "grpc.max_send_message_length": -1 }) as unknown as {
      Deliver: (r: unknown, o: unknown, cb: (e: ServiceError | null) => void) => void;
      close(): void;
    };
    cleanups.push(() => raw.close());
    const call = (deliveries: string[]) =>
      new Promise<ServiceError | null>((resolve) => raw.Deliver({ gateway_id: "gw-1", deliveries }, { deadline: Date.now() + 5_000 }, resolve));
    const countError = await call(Array.from({ length: GATEWAY_LINK_LIMITS.deliveriesPerCallMax + 1 }, () => "{}"));
    expect(countError?.code).toBe(status.RESOURCE_EXHAUSTED);
    const bytesError = await call(["x".repeat(GATEWAY_LINK_LIMITS.requestBytesMax + 1)]);
    expect(bytesError?.code).toBe(status.RESOURCE_EXHAUSTED);
    const jsonError = await call(["{not json"]);
    expect(jsonError?.code).toBe(status.INVALID_ARGUMENT);
    expect(jsonError?.details).toContain("deliveries[0] is not valid JSON");

    await l.deliver("gw-1", everyKind);
    expect(batches).toEqual([everyKind]);
  });
});

describeGatewayLinkContract("GatewayLinkGrpc", async () => {
  const addresses = new Map<string, string>();
  const servers: GatewayGrpcServer[] = [];
  const l = new GatewayLinkGrpc((id) => addresses.get(id) ?? null, { deadline_ms: 1_000 });
  return {
    link: l,
    serve: async (gateway_id, receive) => {
      const server = await startGatewayGrpcServer({ host: "127.0.0.1", port: 0, gateway_id, receive, close_grace_ms: 100 });
      servers.push(server);
      addresses.set(gateway_id, `127.0.0.1:${server.port}`);
      return () => server.close();
    },
    cleanup: async () => {
      l.close();
      for (const s of servers) await s.close().catch(() => undefined);
    },
  };
});
