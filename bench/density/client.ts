/**
 * One client process of the density benchmark: opens `--count` authenticated WebSockets to
 * `--url` with the tokens at lines [from, from+count) of `--tokens` (one token a line), from
 * the loopback source addresses `--local` (comma-separated, used round-robin, so each address
 * needs fewer ephemeral ports), at most `--concurrency` handshakes in flight. Then it holds
 * them idle: no frames (ws answers the server's pings by itself). Bounded: it exits after
 * `--max-seconds`, when stdin closes (its parent is gone), or on SIGTERM.
 *
 * Prints JSON lines: {phase:"connected", open, failed, errors, ms, rss_kib} once every
 * handshake has finished, and {phase:"status", open, closed, failed, rss_kib} for each
 * "status" line read on stdin. A failed or closed socket is not retried.
 *
 *   client.ts --url ws://127.0.0.1:PORT/ws --tokens FILE --from 0 --count 10000
 *     --local 127.0.0.21,127.0.0.22 [--concurrency 100] [--max-seconds 900]
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const url = args.get("url")!;
const from = Number(args.get("from") ?? 0);
const count = Number(args.get("count") ?? 0);
const locals = (args.get("local") ?? "127.0.0.1").split(",").filter((s) => s !== "");
const concurrency = Number(args.get("concurrency") ?? 100);
const maxSeconds = Number(args.get("max-seconds") ?? 900);
const tokens = readFileSync(args.get("tokens")!, "utf8").split("\n").slice(from, from + count);
if (tokens.length < count) throw new Error(`only ${tokens.length} tokens from line ${from}, ${count} asked`);

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
function rssKiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0);
}

const deadline = setTimeout(() => process.exit(0), maxSeconds * 1000);
deadline.unref();
process.on("SIGTERM", () => process.exit(0));
// Keep the sockets referenced while stdin is open; its end means the benchmark is gone.
const input = createInterface({ input: process.stdin });
input.on("close", () => process.exit(0));

const sockets: WebSocket[] = [];
let open = 0;
let closed = 0;
let failed = 0;
const errors: Record<string, number> = {};

input.on("line", (line) => {
  if (line.trim() === "status") emit({ phase: "status", open, closed, failed, errors, rss_kib: rssKiB() });
});

function connectOne(i: number): Promise<void> {
  return new Promise((done) => {
    const token = tokens[i]!;
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false, localAddress: locals[i % locals.length]!, handshakeTimeout: 30_000 });
    let opened = false;
    ws.once("open", () => {
      opened = true;
      open++;
      sockets.push(ws);
      done();
    });
    ws.on("error", (e: Error & { code?: string }) => {
      const key = e.code ?? e.message.slice(0, 60);
      errors[key] = (errors[key] ?? 0) + 1;
    });
    ws.once("close", () => {
      if (opened) {
        open--;
        closed++;
      } else {
        failed++;
        done();
      }
    });
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await connectOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  emit({ phase: "connected", open, failed, errors, ms: Math.round(performance.now() - t0), rss_kib: rssKiB() });
}

main().catch((e: unknown) => {
  process.stderr.write(`density client: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
