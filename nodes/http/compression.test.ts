/**
 * permessage-deflate as the gateway sets it up: negotiated with a browser-like offer, small
 * frames sent plain and long ones compressed (counted in bytes on the client's socket), a
 * client that would not let us cap its window gets no compression, and settings over the
 * memory bound are refused with a sentence naming the variable.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { parseEnv } from "../config.js";
import { gatewayEnv } from "../production.js";
import { compressionMemoryBytes, perMessageDeflate, sendText, type WsCompression } from "./compression.js";

const settings: WsCompression = { threshold_chars: 128, window_bits: 12, mem_level: 5, level: 1, context_takeover: true };

async function pair(clientOptions: WebSocket.ClientOptions): Promise<{ server: WebSocket; client: WebSocket; bytesRead(): number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: perMessageDeflate(settings) });
  await once(wss, "listening");
  const accepted = once(wss, "connection");
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, clientOptions);
  await once(client, "open");
  const [server] = (await accepted) as [WebSocket];
  const socket = (client as unknown as { _socket: { bytesRead: number } })._socket;
  return {
    server,
    client,
    bytesRead: () => socket.bytesRead,
    close: async () => {
      client.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

async function receive(p: { client: WebSocket; bytesRead(): number }, send: () => void): Promise<{ text: string; bytes: number }> {
  const before = p.bytesRead();
  const got = once(p.client, "message");
  send();
  const [data] = (await got) as [Buffer];
  return { text: data.toString(), bytes: p.bytesRead() - before };
}

describe("WebSocket compression", () => {
  it("negotiates with a browser-like offer; frames under the threshold go plain, longer ones compressed", async () => {
    const p = await pair({ perMessageDeflate: true });
    try {
      expect(p.client.extensions).toBe("permessage-deflate");
      const negotiated = (p.server as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })._extensions["permessage-deflate"]?.params;
      expect(negotiated?.server_max_window_bits).toBe(12);
      const small = JSON.stringify({ type: "presence_update", data: { user_id: "u_1", status: "online" } });
      expect(small.length).toBeLessThan(128);
      const plain = await receive(p, () => sendText(p.server, small, settings));
      expect(plain).toEqual({ text: small, bytes: small.length + 2 });
      const long = JSON.stringify({ type: "new_message", data: { content: "see you at the meeting tomorrow morning, see you at the meeting ".repeat(8) } });
      const packed = await receive(p, () => sendText(p.server, long, settings));
      expect(packed.text).toBe(long);
      expect(packed.bytes).toBeLessThan(long.length / 3);
    } finally {
      await p.close();
    }
  });

  it("compresses for a client that offers no client_max_window_bits (as Firefox), and sends plain to one that offers nothing", async () => {
    const firefox = await pair({ perMessageDeflate: { clientMaxWindowBits: false } as never });
    const bare = await pair({ perMessageDeflate: false });
    try {
      expect(firefox.client.extensions).toBe("permessage-deflate");
      const long = "see you at the meeting tomorrow morning ".repeat(50);
      expect((await receive(firefox, () => sendText(firefox.server, long, settings))).bytes).toBeLessThan(200);
      expect(bare.client.extensions).toBe("");
      expect((await receive(bare, () => sendText(bare.server, long, settings))).bytes).toBe(long.length + 4);
    } finally {
      await firefox.close();
      await bare.close();
    }
  });

  it("is off unless asked for; settings over the memory bound are refused, naming the variable", () => {
    const base = { GATEWAY_ID: "gw-0", GRPC_PORT: "7101" };
    const off = parseEnv(gatewayEnv, base);
    expect(off.ok && off.value.WS_COMPRESSION).toBe(false);
    const on = parseEnv(gatewayEnv, { ...base, WS_COMPRESSION: "1" });
    expect(on.ok && [on.value.WS_COMPRESSION_WINDOW_BITS, on.value.WS_COMPRESSION_MEM_LEVEL, on.value.WS_COMPRESSION_LEVEL, on.value.WS_COMPRESSION_THRESHOLD]).toEqual([12, 5, 1, 128]);
    const big = parseEnv(gatewayEnv, { ...base, WS_COMPRESSION: "1", WS_COMPRESSION_WINDOW_BITS: "15", WS_COMPRESSION_MEM_LEVEL: "8" });
    expect(compressionMemoryBytes({ window_bits: 12, mem_level: 5 })).toBeLessThanOrEqual(96 * 1024);
    expect(!big.ok && big.message).toContain(`WS_COMPRESSION_WINDOW_BITS: with WS_COMPRESSION_MEM_LEVEL 8 needs ${compressionMemoryBytes({ window_bits: 15, mem_level: 8 })} bytes`);
    const bad = parseEnv(gatewayEnv, { ...base, WS_COMPRESSION_WINDOW_BITS: "16" });
    expect(!bad.ok && bad.message).toContain("WS_COMPRESSION_WINDOW_BITS:");
  });
});
