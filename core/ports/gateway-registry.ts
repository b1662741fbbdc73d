/**
 * GatewayRegistry: where gateways announce themselves (ID, gRPC address, region, load) with a
 * TTL, and where routers (and gateways, for typing relays) find them. An entry not renewed
 * within its TTL is gone; a draining gateway removes its own.
 */

export type GatewayEntry = {
  readonly gateway_id: string;
  /** `host:port` of its gRPC server; host may be a name, an IPv4 address or a bracketed IPv6 one. */
  readonly address: string;
  readonly region: string;
  /** Open WebSocket connections when it last registered. */
  readonly load: number;
};

export interface GatewayRegistry {
  /** Adds or refreshes the entry; it lapses `ttl_ms` from now unless registered again. */
  register(entry: GatewayEntry, ttl_ms: number): Promise<void>;
  /** Removes the entry now (a draining gateway). */
  deregister(gateway_id: string): Promise<void>;
  /** The entries that have not lapsed, by gateway ID. Malformed entries are left out. */
  live(): Promise<GatewayEntry[]>;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})$/;

/** Why `address` is not a usable `host:port`, or null when it is. */
export function gatewayAddressProblem(address: string): string | null {
  const match = HOST_PORT.exec(address);
  if (match === null) return `"${address}" is not host:port (a name, an IPv4 address or a [bracketed] IPv6 address, then a port)`;
  const port = Number(match[1]);
  if (port < 1 || port > 65_535) return `"${address}" has port ${port}, outside 1..65535`;
  return null;
}

/** Checks an entry read from a shared store: another node wrote it, so it is input, not truth. */
export function gatewayEntryProblem(entry: GatewayEntry): string | null {
  if (typeof entry.gateway_id !== "string" || !ID.test(entry.gateway_id)) return `gateway_id ${JSON.stringify(entry.gateway_id)} is not 1-64 letters, digits, _ or -`;
  if (typeof entry.address !== "string") return "address is not a string";
  const address = gatewayAddressProblem(entry.address);
  if (address !== null) return address;
  if (typeof entry.region !== "string" || !ID.test(entry.region)) return `region ${JSON.stringify(entry.region)} is not 1-64 letters, digits, _ or -`;
  if (typeof entry.load !== "number" || !Number.isInteger(entry.load) || entry.load < 0) return `load ${JSON.stringify(entry.load)} is not a non-negative integer`;
  return null;
}
