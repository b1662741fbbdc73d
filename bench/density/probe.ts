/**
 * Preloaded into a server by the density benchmark (`node --expose-gc --import tsx --import
 * bench/density/probe.ts SERVER`), and only there: the server's own code is not touched. Over
 * the IPC channel the benchmark opens, it answers
 *
 *   {type: "stats"}               -> {type: "stats", memory, heap, fds}   (process.memoryUsage, v8 heap statistics)
 *   {type: "gc"}                  -> a full GC (twice), then the same as "stats"
 *   {type: "snapshot", path}      -> v8.writeHeapSnapshot(path) (it runs a full GC first), then {type: "snapshot", path}
 *
 * Without an IPC channel (the server started by hand) it does nothing.
 */
import { readdirSync } from "node:fs";
import v8 from "node:v8";

export type ProbeRequest = { id: number; type: "stats" } | { id: number; type: "gc" } | { id: number; type: "snapshot"; path: string };
export type ProbeStats = {
  memory: NodeJS.MemoryUsage;
  heap: v8.HeapInfo;
  /** Open file descriptors of the process now. */
  fds: number;
};
export type ProbeReply = ({ type: "stats" | "gc" } & ProbeStats & { id: number }) | { id: number; type: "snapshot"; path: string } | { id: number; type: "error"; message: string };

function stats(): ProbeStats {
  let fds = -1;
  try {
    fds = readdirSync("/proc/self/fd").length - 1; // minus the directory handle of the listing itself
  } catch {
    /* not Linux */
  }
  return { memory: process.memoryUsage(), heap: v8.getHeapStatistics(), fds };
}

const gc = (globalThis as { gc?: () => void }).gc;

if (typeof process.send === "function") {
  process.on("message", (request: ProbeRequest) => {
    const reply = (r: ProbeReply): void => {
      process.send?.(r);
    };
    try {
      if (request.type === "stats") reply({ id: request.id, type: "stats", ...stats() });
      else if (request.type === "gc") {
        gc?.();
        gc?.();
        reply({ id: request.id, type: "gc", ...stats() });
      } else if (request.type === "snapshot") reply({ id: request.id, type: "snapshot", path: v8.writeHeapSnapshot(request.path) });
    } catch (e) {
      reply({ id: request.id, type: "error", message: e instanceof Error ? e.message : String(e) });
    }
  });
  // The channel must not keep a server alive on its own (nor stop it from exiting).
  process.channel?.unref();
}
