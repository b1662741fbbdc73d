/**
 * GatewayLink over gRPC: how a router hands a batch of deliveries to the gateway holding the
 * connections. Rules: one client channel per gateway, created on first use and reused (gRPC
 * reconnects it by itself); every call carries a deadline; every failure rejects with a
 * GatewayLinkError naming the gateway, so the caller keeps the messages pending.
 *
 * Calls are made wait-for-ready: a call to a gateway whose channel is reconnecting (it
 * restarted, or the connection dropped) waits for the channel up to the deadline instead of
 * failing at once, so a gateway restart costs a short wait rather than a lost batch. The
 * price is that a gateway that is really gone fails after the deadline, not instantly.
 *
 * Delivers to one gateway that are asked for in the same event-loop turn travel in one call
 * (in the order they were asked, each caller's deliveries kept together, within the request
 * limits): a router hands over one `sent` receipt, one `new_message` and one `delivered`
 * receipt per message, and under load one call per delivery was a large share of both the
 * router's and the gateway's CPU. Every caller of a call hears that call's outcome.
 */
import { Client, credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { Delivery } from "../../core/model.js";
import type { GatewayLink } from "../../core/ports/gateway-link.js";
import { GATEWAY_LINK_LIMITS, gatewayServiceDefinition, type DeliverReply, type DeliverRequest } from "./gateway-service.js";

/** Maps a gateway ID to its "host:port", or null when the address book does not know it. */
export type GatewayAddressResolver = (gateway_id: string) => string | null;

export type GatewayLinkGrpcOptions = {
  /** Per-call deadline; GATEWAY_LINK_LIMITS.deadlineMsDefault (2 s) when left out. */
  deadline_ms?: number;
  /** Upper bound of gRPC's reconnect backoff, so a restarted gateway is found again quickly. */
  reconnect_backoff_ms_max?: number;
  /**
   * For an ID the resolver does not know: resolves once the address book was read again
   * (GatewayBook.fresh), and the delivery is tried with what it says before failing with
   * GATEWAY_UNKNOWN. Without it an unknown gateway fails at once.
   */
  refresh?: (gateway_id: string) => Promise<void>;
};

export type GatewayLinkErrorCode = "GATEWAY_UNKNOWN" | "GATEWAY_UNREACHABLE" | "GATEWAY_DEADLINE_EXCEEDED" | "GATEWAY_REFUSED" | "BATCH_TOO_LARGE" | "LINK_CLOSED";

/** Why a deliver failed; `grpc_code` is set when the failure came from a gRPC call. */
export class GatewayLinkError extends Error {
  constructor(
    readonly code: GatewayLinkErrorCode,
    readonly gateway_id: string,
    message: string,
    readonly grpc_code: status | null = null,
  ) {
    super(message);
    this.name = "GatewayLinkError";
  }
}

type DeliverMethod = (
  request: DeliverRequest,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, reply?: DeliverReply) => void,
) => unknown;
type GatewayClient = Client & { Deliver: DeliverMethod };
type Channel = { address: string; client: GatewayClient };
type Waiting = { readonly deliveries: readonly string[]; readonly bytes: number; readonly resolve: () => void; readonly reject: (error: unknown) => void };

export class GatewayLinkGrpc implements GatewayLink {
  private readonly channels = new Map<string, Channel>();
  /** Per gateway: the delivers of this turn, sent together when it ends. */
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly deadline_ms: number;
  private readonly reconnect_backoff_ms_max: number;
  private readonly refresh: ((gateway_id: string) => Promise<void>) | null;
  private closed = false;

  constructor(
    private readonly resolve: GatewayAddressResolver,
    options: GatewayLinkGrpcOptions = {},
  ) {
    this.deadline_ms = options.deadline_ms ?? GATEWAY_LINK_LIMITS.deadlineMsDefault;
    this.reconnect_backoff_ms_max = options.reconnect_backoff_ms_max ?? 1_000;
    this.refresh = options.refresh ?? null;
    if (!(this.deadline_ms > 0)) throw new Error(`GatewayLinkGrpc: deadline_ms must be positive, got ${this.deadline_ms}`);
  }

  async deliver(gateway_id: string, deliveries: readonly Delivery[]): Promise<void> {
    if (this.closed) throw new GatewayLinkError("LINK_CLOSED", gateway_id, `cannot deliver to gateway "${gateway_id}": the link is closed`);
    if (deliveries.length > GATEWAY_LINK_LIMITS.deliveriesPerCallMax) {
      throw new GatewayLinkError(
        "BATCH_TOO_LARGE",
        gateway_id,
        `cannot deliver ${deliveries.length} deliveries to gateway "${gateway_id}" in one call (at most ${GATEWAY_LINK_LIMITS.deliveriesPerCallMax})`,
      );
    }
    if (deliveries.length === 0) return;
    // A gateway that registered a moment ago: read the address book once more first.
    if (this.refresh !== null && this.resolve(gateway_id) === null) await this.refresh(gateway_id);
    if (this.closed) throw new GatewayLinkError("LINK_CLOSED", gateway_id, `cannot deliver to gateway "${gateway_id}": the link is closed`);
    // Resolve the address now, so an unknown gateway fails this caller alone.
    this.channelFor(gateway_id);
    const encoded = deliveries.map((d) => JSON.stringify(d));
    const bytes = encoded.reduce((sum, d) => sum + d.length + 8, 0);
    await new Promise<void>((resolve, reject) => {
      let list = this.waiting.get(gateway_id);
      if (list === undefined) {
        this.waiting.set(gateway_id, (list = []));
        setImmediate(() => this.flush(gateway_id));
      }
      list.push({ deliveries: encoded, bytes, resolve, reject });
    });
  }

  /** Sends the turn's delivers to one gateway in as few calls as the limits allow. */
  private flush(gateway_id: string): void {
    const list = this.waiting.get(gateway_id) ?? [];
    this.waiting.delete(gateway_id);
    // A call's serialized size stays well under the server's limit (framing and field tags aside).
    const bytes_max = GATEWAY_LINK_LIMITS.requestBytesMax / 2;
    let call: Waiting[] = [];
    let count = 0;
    let bytes = 0;
    for (const w of list) {
      if (call.length > 0 && (count + w.deliveries.length > GATEWAY_LINK_LIMITS.deliveriesPerCallMax || bytes + w.bytes > bytes_max)) {
        this.send(gateway_id, call);
        call = [];
        count = 0;
        bytes = 0;
      }
      call.push(w);
      count += w.deliveries.length;
      bytes += w.bytes;
    }
    if (call.length > 0) this.send(gateway_id, call);
  }

  private send(gateway_id: string, call: readonly Waiting[]): void {
    const fail = (error: unknown): void => {
      for (const w of call) w.reject(error);
    };
    if (this.closed) {
      fail(new GatewayLinkError("LINK_CLOSED", gateway_id, `cannot deliver to gateway "${gateway_id}": the link is closed`));
      return;
    }
    let channel: Channel;
    try {
      channel = this.channelFor(gateway_id);
    } catch (error) {
      fail(error);
      return;
    }
    const request: DeliverRequest = { gateway_id, deliveries: call.length === 1 ? [...call[0]!.deliveries] : call.flatMap((w) => w.deliveries) };
    // grpc-js takes wait-for-ready as a metadata option, not a call option.
    const metadata = new Metadata({ waitForReady: true });
    channel.client.Deliver(request, metadata, { deadline: Date.now() + this.deadline_ms }, (error) => {
      if (error === null) for (const w of call) w.resolve();
      else fail(this.failure(gateway_id, channel.address, error));
    });
  }

  /** Closes every channel; later delivers reject with LINK_CLOSED. */
  close(): void {
    this.closed = true;
    for (const channel of this.channels.values()) channel.client.close();
    this.channels.clear();
  }

  /** Closes the channel to a gateway that departed (discovery), so channels do not pile up. */
  forget(gateway_id: string): void {
    this.channels.get(gateway_id)?.client.close();
    this.channels.delete(gateway_id);
  }

  private channelFor(gateway_id: string): Channel {
    const address = this.resolve(gateway_id);
    if (address === null) {
      throw new GatewayLinkError("GATEWAY_UNKNOWN", gateway_id, `cannot deliver to gateway "${gateway_id}": no address is known for it`);
    }
    const existing = this.channels.get(gateway_id);
    if (existing !== undefined && existing.address === address) return existing;
    // The gateway moved (the address book changed): the old channel points nowhere useful.
    existing?.client.close();
    const Client = makeGenericClientConstructor(gatewayServiceDefinition(), "Gateway");
    const client = new Client(address, credentials.createInsecure(), {
      "grpc.max_send_message_length": GATEWAY_LINK_LIMITS.requestBytesMax,
      "grpc.initial_reconnect_backoff_ms": Math.min(100, this.reconnect_backoff_ms_max),
      "grpc.max_reconnect_backoff_ms": this.reconnect_backoff_ms_max,
    }) as unknown as GatewayClient;
    const channel = { address, client };
    this.channels.set(gateway_id, channel);
    return channel;
  }

  private failure(gateway_id: string, address: string, error: ServiceError): GatewayLinkError {
    const where = `gateway "${gateway_id}" at ${address}`;
    switch (error.code) {
      case status.DEADLINE_EXCEEDED:
        return new GatewayLinkError("GATEWAY_DEADLINE_EXCEEDED", gateway_id, `${where} did not answer within ${this.deadline_ms} ms (unreachable or overloaded): ${error.details}`, error.code);
      case status.UNAVAILABLE:
        return new GatewayLinkError("GATEWAY_UNREACHABLE", gateway_id, `${where} is unreachable: ${error.details}`, error.code);
      default:
        return new GatewayLinkError("GATEWAY_REFUSED", gateway_id, `${where} refused the batch (${status[error.code]}): ${error.details}`, error.code);
    }
  }
}
