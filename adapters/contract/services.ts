/**
 * For suites against real servers: makes sure a service answers on 127.0.0.1 before a suite
 * starts, starting it with deploy/services.sh when its port is closed, and failing (never
 * skipping) with the script's output when that does not work. Not used by production code.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

const SERVICES_SCRIPT = fileURLToPath(new URL("../../deploy/services.sh", import.meta.url));
const PORT_PROBE_TIMEOUT_MS = 1_000;

export type ServiceName = "redis" | "postgres" | "kafka" | "cassandra" | "s3proxy" | "redis-cluster";

/** Whether something accepts TCP connections on host:port within a second. */
export function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(PORT_PROBE_TIMEOUT_MS, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Where `make test` collects the services its suites started (deploy/test-suite.sh sets it
 * and stops exactly those afterwards). Unset outside `make test`: nothing is recorded.
 */
export const STARTED_FILE_VARIABLE = "TEST_SERVICES_STARTED_FILE";

/**
 * Runs `deploy/services.sh up <service>` if nothing listens on `port`; throws with the
 * script's output if it fails or the port is still closed afterwards. A service it started
 * is recorded (see STARTED_FILE_VARIABLE); one that was already listening, whoever started
 * it, is not, so `make test` never stops a service it found running.
 */
export async function ensureService(service: ServiceName, port: number, timeout_ms = 120_000): Promise<void> {
  if (await portOpen(port)) return;
  try {
    execFileSync(SERVICES_SCRIPT, ["up", service], { encoding: "utf8", timeout: timeout_ms, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`deploy/services.sh up ${service} failed (${failure.message.split("\n")[0]}):\n${failure.stdout ?? ""}${failure.stderr ?? ""}`);
  }
  if (!(await portOpen(port))) throw new Error(`deploy/services.sh up ${service} returned, but nothing listens on 127.0.0.1:${port}`);
  recordStarted(service, process.env[STARTED_FILE_VARIABLE]);
}

/** Appends `service` to the started-services file, when there is one (one line per start; suites run in parallel processes). */
export function recordStarted(service: ServiceName, file: string | undefined): void {
  if (file === undefined || file === "") return;
  appendFileSync(file, `${service}\n`);
}

const SERVICE_NAMES: readonly ServiceName[] = ["redis", "postgres", "kafka", "cassandra", "s3proxy", "redis-cluster"];

/**
 * The services to stop after the suite: those named in the started-services file, once
 * each, in a fixed order; anything else in it (a torn line) is ignored rather than passed
 * to `deploy/services.sh down`.
 */
export function servicesToStop(recorded: string): ServiceName[] {
  const named = new Set(recorded.split("\n").map((line) => line.trim()));
  return SERVICE_NAMES.filter((s) => named.has(s));
}
