/**
 * guardedFetch: the FetchFunction push providers use for URLs that users register (webhooks,
 * Web Push endpoints). A user must not be able to make the node call its own network: the
 * loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
 * multicast and reserved ranges of IPv4 and IPv6 are refused unless an operator allow-list
 * (CIDRs) names them.
 *
 * Rules:
 * - The check is made on the address actually connected to, at connect time (a `lookup` that
 *   resolves, filters and hands the socket only allowed addresses), so a name that resolves
 *   to a private address, or changes its answer between a check and the connect (DNS
 *   rebinding), is refused all the same. An IP literal is checked before any socket.
 * - A refusal rejects with BlockedAddressError, which postWithRetry does not retry.
 * - IPv4-mapped and NAT64 IPv6 forms are refused as a whole: they are ways of spelling an
 *   IPv4 address that the IPv4 rules would otherwise judge, and no push service needs them.
 * - Redirects are never followed (node:http does not), which postWithRetry requires anyway.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP } from "node:net";
import { Readable } from "node:stream";
import type { FetchFunction } from "./post-with-retry.js";

const BLOCKED_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
];
const BLOCKED_V6 = ["::/128", "::1/128", "64:ff9b::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"];

/** The node refused to connect to `address`: it is private and not on the allow-list. */
export class BlockedAddressError extends Error {
  readonly code = "PUSH_ADDRESS_BLOCKED";
  constructor(readonly address: string) {
    super(`${address} is a private, loopback or reserved address, and no allow-list names it`);
    this.name = "BlockedAddressError";
  }
}

/** Parses CIDRs such as `10.1.0.0/16` or `::1/128` into a BlockList; throws naming the bad one. */
function cidrList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network, bits] = cidr.trim().split("/");
    const family = network === undefined ? 0 : isIP(network);
    const prefix = Number(bits);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
      throw new Error(`guardedFetch: '${cidr}' is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
    }
    list.addSubnet(network!, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  return list;
}

/**
 * IPv4-mapped IPv6, checked for IPv6 addresses only: BlockList matches an IPv4 address against
 * IPv6 rules in its mapped form, so in BLOCKED this range would refuse every IPv4 address.
 */
const MAPPED_V4 = (() => {
  const list = new BlockList();
  list.addSubnet("::ffff:0:0", 96, "ipv6");
  return list;
})();

const BLOCKED = (() => {
  const list = new BlockList();
  for (const cidr of BLOCKED_V4) list.addSubnet(cidr.split("/")[0]!, Number(cidr.split("/")[1]), "ipv4");
  for (const cidr of BLOCKED_V6) list.addSubnet(cidr.split("/")[0]!, Number(cidr.split("/")[1]), "ipv6");
  return list;
})();

/** Which addresses a push may connect to: every public one, and the private ones `allow_cidrs` names. */
export function addressPolicy(allow_cidrs: readonly string[] = []): (address: string) => boolean {
  const allowed = cidrList(allow_cidrs);
  return (address) => {
    const family = isIP(address);
    if (family === 0) return false;
    const type = family === 4 ? "ipv4" : "ipv6";
    if (allowed.check(address, type)) return true;
    return !BLOCKED.check(address, type) && !(family === 6 && MAPPED_V4.check(address, "ipv6"));
  };
}

/** `ca`: extra trusted certificates (PEM) for https targets; for a local stand-in in tests only. */
export function guardedFetch(may_connect: (address: string) => boolean, options: { readonly ca?: string } = {}): FetchFunction {
  const lookup = (hostname: string, options: LookupOptions, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error !== null) return callback(error, "");
      const usable = addresses.filter((a) => may_connect(a.address));
      if (usable.length === 0) return callback(new BlockedAddressError(`${hostname} (${addresses.map((a) => a.address).join(", ")})`), "");
      if (options.all === true) return callback(null, usable);
      return callback(null, usable[0]!.address, usable[0]!.family);
    });
  };

  const fetchGuarded = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
      const host = url.hostname.replace(/^\[|\]$/g, "");
      if (isIP(host) !== 0 && !may_connect(host)) return reject(new BlockedAddressError(host));
      const request = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : null;
      if (request === null) return reject(new TypeError(`guardedFetch: ${url.protocol} is not http or https`));
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => (headers[key] = value));
      const body = init.body === undefined || init.body === null ? null : typeof init.body === "string" ? Buffer.from(init.body) : Buffer.from(init.body as Uint8Array);
      if (body !== null) headers["content-length"] = String(body.length);
      const tls = url.protocol === "https:" && options.ca !== undefined ? { ca: options.ca } : {};
      const req = request(url, { method: init.method ?? "GET", headers, lookup, signal: init.signal ?? undefined, agent: false, ...tls }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.destroy();
          return reject(new TypeError(`guardedFetch: the answer's status ${status} is not one fetch represents`));
        }
        const answer = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) answer.append(key, v);
        }
        const nullBody = status === 204 || status === 205 || status === 304;
        if (nullBody) res.resume();
        resolve(new Response(nullBody ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>), { status, headers: answer }));
      });
      req.on("error", (error) => {
        // As fetch does: an abort rejects with the signal's reason (a TimeoutError for AbortSignal.timeout).
        if (init.signal?.aborted === true) return reject(init.signal.reason);
        reject(error instanceof BlockedAddressError ? error : Object.assign(new TypeError("fetch failed"), { cause: error }));
      });
      req.end(body ?? undefined);
    });
  return fetchGuarded as FetchFunction;
}
