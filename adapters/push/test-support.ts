/**
 * Test support for the push providers: a real HTTP receiver on 127.0.0.1 (port 0) that
 * records every request and answers by path, and a PushTime whose sleep moves a manual clock
 * instead of waiting.
 *
 * Rules: answers are scripted per path as a list of replies, the last repeated; "hang" never
 * answers (the client's timeout must end it). close() ends every open connection, so a test
 * never waits on a hanging request.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { ClockManual } from "../memory/clock-memory.js";
import { RandomSeeded } from "../memory/random-memory.js";
import type { PushTime } from "./post-with-retry.js";

export type Reply = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string } | "hang";

export type ReceivedRequest = {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The status the receiver answered, or null for a hung request. */
  readonly status: number | null;
};

/** At most this many requests are recorded; a test sends far fewer. */
const RECORDED_MAX = 10_000;

export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, { replies: readonly Reply[]; next: number }>();
  private readonly hung: ServerResponse[] = [];

  private constructor(
    private readonly server: Server,
    readonly base_url: string,
  ) {}

  /** Plain http, or https with `tls` (a key and certificate for 127.0.0.1). */
  static async start(tls?: { readonly key: string; readonly cert: string }): Promise<Receiver> {
    const server: Server = tls === undefined ? createServer() : createTlsServer({ key: tls.key, cert: tls.cert });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const receiver = new Receiver(server, `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => receiver.answer(request.method ?? "", request.url ?? "", request.headers, Buffer.concat(chunks), response));
    });
    return receiver;
  }

  /** From now on, requests to `path` get `replies` in turn, the last one repeated. */
  script(path: string, ...replies: Reply[]): string {
    if (replies.length === 0) throw new Error("Receiver.script: give at least one reply");
    this.scripts.set(path, { replies, next: 0 });
    return `${this.base_url}${path}`;
  }

  on(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const response of this.hung) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer, response: ServerResponse): void {
    const script = this.scripts.get(path);
    const reply: Reply = script === undefined ? { status: 404 } : (script.replies[Math.min(script.next, script.replies.length - 1)] ?? { status: 500 });
    if (script !== undefined) script.next += 1;
    if (this.requests.length < RECORDED_MAX) this.requests.push({ method, path, headers, body, status: reply === "hang" ? null : reply.status });
    if (reply === "hang") {
      this.hung.push(response);
      return;
    }
    response.writeHead(reply.status, reply.headers ?? {});
    response.end(reply.body ?? "");
  }
}

/** A PushTime whose sleeps advance its clock at once, and are recorded. */
export function manualTime(start_ms = 1_750_000_000_000, seed = 7): PushTime & { readonly clock: ClockManual; readonly sleeps: number[] } {
  const clock = new ClockManual(start_ms);
  const sleeps: number[] = [];
  return {
    clock,
    random: new RandomSeeded(seed),
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
  };
}
