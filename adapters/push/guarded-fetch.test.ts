import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressPolicy, BlockedAddressError, guardedFetch } from "./guarded-fetch.js";

let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(201, { "content-type": "text/plain", "x-two": ["a", "b"] }).end("made");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("addressPolicy", () => {
  it("refuses loopback, private, link-local, CGNAT, multicast and mapped forms; allows public ones", () => {
    const may = addressPolicy();
    for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "64:ff9b::7f00:1"]) {
      expect({ a, may: may(a) }).toEqual({ a, may: false });
    }
    for (const a of ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]) expect({ a, may: may(a) }).toEqual({ a, may: true });
    expect(may("not an address")).toBe(false);
  });

  it("lets an operator allow-list name private ranges, and refuses a malformed one at start", () => {
    const may = addressPolicy(["127.0.0.0/8", "fd00::/8"]);
    expect(may("127.0.0.1")).toBe(true);
    expect(may("fd12::1")).toBe(true);
    expect(may("10.0.0.1")).toBe(false);
    expect(() => addressPolicy(["10.0.0.0/33"])).toThrow(/not a CIDR/);
    expect(() => addressPolicy(["localhost/8"])).toThrow(/not a CIDR/);
  });
});

describe("guardedFetch", () => {
  it("refuses a private IP literal and a name that resolves to one, without a connection", async () => {
    const fetch = guardedFetch(addressPolicy());
    const before = hits;
    await expect(fetch(`http://127.0.0.1:${port}/x`, { method: "POST", body: "{}" })).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(fetch(`http://localhost:${port}/x`, { method: "POST", body: "{}" })).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(fetch(`http://[::1]:${port}/x`, { method: "POST", body: "{}" })).rejects.toBeInstanceOf(BlockedAddressError);
    expect(hits).toBe(before);
  });

  it("posts to an allowed address and answers like fetch", async () => {
    const fetch = guardedFetch(addressPolicy(["127.0.0.0/8"]));
    const res = await fetch(`http://localhost:${port}/x`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-two")).toBe("a, b");
    expect(await res.text()).toBe("made");
  });
});
