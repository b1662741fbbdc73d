/**
 * Http2Fetch: a `fetch` over HTTP/2 (node:http2), for providers that speak only HTTP/2
 * (APNs), so that postWithRetry's one retry and timeout policy serves them too. Node's global
 * fetch speaks HTTP/1.1.
 *
 * Rules:
 * - One session per origin, reused for every request (APNs asks providers to keep their
 *   connections open rather than connect per notification). A session that errs, closes or
 *   gets GOAWAY is forgotten; the next request opens a new one.
 * - A request's AbortSignal cancels its stream (RST_STREAM CANCEL) and rejects with the
 *   signal's reason, as fetch does, so a timeout reads as a timeout.
 * - At most `response_bytes_max` bytes of an answer are kept (providers answer small JSON).
 * - A session holds the process open only while it has requests in flight.
 */
import { connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import type { FetchFunction } from "./post-with-retry.js";

export type Http2FetchOptions = {
  /** Extra trusted certificates (PEM), for a local stand-in of the provider in tests. */
  readonly ca?: string | Buffer;
  readonly response_bytes_max?: number;
};

const RESPONSE_BYTES_MAX_DEFAULT = 64 * 1024;

export class Http2Fetch {
  private readonly sessions = new Map<string, { session: ClientHttp2Session; in_flight: number }>();
  private readonly options: Http2FetchOptions;

  constructor(options: Http2FetchOptions = {}) {
    this.options = options;
  }

  /** Bound to the instance, to hand to postWithRetry. */
  readonly fetch: FetchFunction = (input, init) => this.request(input, init);

  /** Closes every session (requests in flight fail). */
  close(): void {
    for (const { session } of this.sessions.values()) session.close();
    this.sessions.clear();
  }

  private session(origin: string): { session: ClientHttp2Session; in_flight: number } {
    const existing = this.sessions.get(origin);
    if (existing !== undefined && !existing.session.closed && !existing.session.destroyed) return existing;
    const options: SecureClientSessionOptions = this.options.ca === undefined ? {} : { ca: this.options.ca };
    const session = connect(origin, options);
    const entry = { session, in_flight: 0 };
    const forget = (): void => {
      if (this.sessions.get(origin) === entry) this.sessions.delete(origin);
    };
    // Errors reach the requests in flight through their streams; here only forget the session.
    session.on("error", forget);
    session.on("close", forget);
    session.on("goaway", forget);
    session.unref();
    this.sessions.set(origin, entry);
    return entry;
  }

  private request(input: Parameters<FetchFunction>[0], init: Parameters<FetchFunction>[1] = {}): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const signal = init.signal ?? null;
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Http2Fetch: only string and Uint8Array bodies are supported"));
    }
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const response_bytes_max = this.options.response_bytes_max ?? RESPONSE_BYTES_MAX_DEFAULT;
    return new Promise<Response>((resolve, reject) => {
      let entry: { session: ClientHttp2Session; in_flight: number };
      try {
        entry = this.session(url.origin);
      } catch (error) {
        reject(error);
        return;
      }
      const headers: Record<string, string> = { ":method": init.method ?? "GET", ":path": `${url.pathname}${url.search}` };
      for (const [name, value] of new Headers(init.headers ?? {})) headers[name] = value;
      entry.in_flight += 1;
      entry.session.ref();
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        entry.in_flight -= 1;
        if (entry.in_flight === 0 && !entry.session.destroyed) entry.session.unref();
      };
      const stream = entry.session.request(headers);
      const onAbort = (): void => {
        stream.close(constants.NGHTTP2_CANCEL);
        done();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.on("error", (error) => {
        if (settled) return;
        done();
        reject(error);
      });
      stream.on("response", (response_headers) => {
        const status = Number(response_headers[":status"]);
        const out = new Headers();
        for (const [name, value] of Object.entries(response_headers)) {
          if (name.startsWith(":") || value === undefined) continue;
          out.set(name, Array.isArray(value) ? value.join(", ") : String(value));
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        stream.on("data", (chunk: Buffer) => {
          if (bytes >= response_bytes_max) return;
          chunks.push(chunk);
          bytes += chunk.length;
        });
        stream.on("end", () => {
          if (settled) return;
          done();
          const kept = Buffer.concat(chunks).subarray(0, response_bytes_max);
          // A Response may not carry a body with 204 or 304.
          resolve(new Response(status === 204 || status === 304 ? null : kept, { status, headers: out }));
        });
      });
      stream.end(body === undefined || body === null ? undefined : body);
    });
  }
}
