/**
 * ejabberd for the peer benchmark: installs Debian's package if it is missing (apt-get; only
 * `make bench-peer` calls this, never `make test`), writes a config for a fair run into a
 * temporary directory (config, Mnesia spool and logs all there; nothing under /etc or
 * /var/lib/ejabberd is changed but the Erlang cookie the VM creates in the user's home),
 * starts it in the foreground through `ejabberdctl`, run as the package's `ejabberd` user
 * (with this process's open-file limit), on 127.0.0.1 with one HTTP listener
 * carrying XMPP over WebSocket (/ws) and the HTTP API (/api), and stops it again, checking that
 * no process is left.
 *
 * Fairness: no traffic shaper (c2s_shaper none; the HTTP listener has no shaper either), a large
 * max_fsm_queue, offline storage on (mod_offline), no archive (mod_mam is not loaded), no
 * registration rate limit, no TLS on the loopback WebSocket (our node has none there either),
 * passwords stored plain so SASL PLAIN costs no PBKDF2 at login (login is not measured anyway).
 * The Erlang VM keeps the package's defaults (ejabberdctl's `+K true +P 250000`, one
 * scheduler per core); Erlang distribution uses its own port, so no epmd is started.
 *
 *   npx tsx bench/peer/ejabberd.ts           # smoke: start, register two users, one message over /ws, stop
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pidTree, treeAndUser, type Procs } from "../load/harness.js";

const EJABBERDCTL = "/usr/sbin/ejabberdctl";
export const XMPP_DOMAIN = "localhost";
/** The last run's ejabberd.log, kept after its temporary directory is removed. */
export const LAST_LOG = join(tmpdir(), "chat-peer-ejabberd-last.log");

export type Ejabberd = {
  /** http://127.0.0.1:PORT: /ws (XMPP over WebSocket) and /api (mod_http_api). */
  url: string;
  domain: string;
  version: string;
  /** The server's processes: ejabberdctl's tree plus every process of the ejabberd user. */
  procs: Procs;
  config: string;
  stop(): Promise<{ left: string[] }>;
};

/** Installs the Debian package when ejabberdctl is missing (root, package registries only). */
export function ensureInstalled(): void {
  if (existsSync(EJABBERDCTL)) return;
  if (process.getuid?.() !== 0) throw new Error("ejabberd is not installed and this is not root: apt-get install ejabberd, then run again");
  console.log("ejabberd: not installed; apt-get install ejabberd (Debian's package) ...");
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  execFileSync("apt-get", ["install", "-y", "-qq", "ejabberd"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  // Where services start on install (no policy-rc.d denying it), the system instance would
  // run beside ours as the same user and be counted in its CPU: stop it.
  if (userProcesses().length > 0) {
    try {
      execFileSync("service", ["ejabberd", "stop"], { stdio: "inherit" });
    } catch {
      /* not started */
    }
  }
}

export function version(): string {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Version}", "ejabberd"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function userProcesses(): string[] {
  try {
    return execFileSync("ps", ["-u", "ejabberd", "-o", "pid=,args="], { encoding: "utf8" }).split("\n").map((l) => l.trim()).filter(Boolean);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, no) => {
    const s = createServer();
    s.once("error", no);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

export function config(httpPort: number): string {
  return `# Written by bench/peer/ejabberd.ts for the peer benchmark (a fair run, on loopback only).
loglevel: warning
log_rotate_count: 0
hosts:
  - ${XMPP_DOMAIN}
listen:
  -
    port: ${httpPort}
    ip: "127.0.0.1"
    module: ejabberd_http
    # Pending TCP connections (ejabberd's default is 5: a burst of connects stalls).
    backlog: 1024
    request_handlers:
      /api: mod_http_api
      /ws: ejabberd_http_ws
auth_method: internal
auth_password_format: plain
# Messages a session's process may have queued before it is stopped (default 10000).
max_fsm_queue: 1000000
registration_timeout: infinity
# Caches (auth, last activity, ...) hold every benchmark user (the default, 1000, thrashes).
cache_size: 100000
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: all
  c2s:
    allow: all
api_permissions:
  "bench":
    from:
      - mod_http_api
    who:
      ip: 127.0.0.0/8
    what:
      - register
      - unregister
      - registered_users
      - connected_users_number
      - status
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 100000
  c2s_shaper: none
  s2s_shaper: none
modules:
  mod_adhoc: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_disco: {}
  mod_http_api: {}
  mod_last: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_roster:
    versioning: true
  mod_stream_mgmt: {}
  mod_vcard:
    search: false
  mod_version: {}
`;
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

async function api(url: string, command: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/api/${command}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`/api/${command}: ${res.status} ${await res.text()}`);
  return res.json();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts a private ejabberd (install first if needed) and resolves once its HTTP API answers. */
export async function startEjabberd(): Promise<Ejabberd> {
  ensureInstalled();
  const before = userProcesses();
  if (before.length > 0) console.warn(`ejabberd: the ejabberd user already runs processes (counted in its CPU and RSS):\n  ${before.join("\n  ")}`);
  const dir = mkdtempSync(join(tmpdir(), "chat-peer-ejabberd-"));
  const httpPort = await freePort();
  const distPort = await freePort();
  const node = `ejbench${httpPort}@localhost`;
  const yml = join(dir, "ejabberd.yml");
  const cfg = join(dir, "ejabberdctl.cfg");
  mkdirSync(join(dir, "spool"));
  mkdirSync(join(dir, "log"));
  const text = config(httpPort);
  writeFileSync(yml, text);
  // ERL_DIST_PORT: Erlang distribution (ejabberdctl's stop) on a fixed port, without epmd.
  writeFileSync(cfg, `ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nERL_DIST_PORT=${distPort}\n`);
  writeFileSync(join(dir, "inetrc"), `{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n{file, resolv, "/etc/resolv.conf"}.\n`);
  const uid = Number(execFileSync("id", ["-u", "ejabberd"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "ejabberd"], { encoding: "utf8" }).trim());
  chownTree(dir, uid, gid);
  const ctlArgs = ["--config-dir", dir, "--config", yml, "--ctl-config", cfg, "--logs", join(dir, "log"), "--spool", join(dir, "spool"), "--node", node];
  // Run ejabberdctl as the ejabberd user itself rather than as root: as root it switches with
  // `su`, whose PAM limits cut the open-file limit to 1,024 and stall the ~1,000th connection.
  const home = execFileSync("getent", ["passwd", "ejabberd"], { encoding: "utf8" }).split(":")[5] ?? "/var/lib/ejabberd";
  const asEjabberd = { uid, gid, cwd: dir, env: { ...process.env, HOME: home, USER: "ejabberd", LOGNAME: "ejabberd" } };
  const child: ChildProcess = spawn(EJABBERDCTL, [...ctlArgs, "foreground"], { ...asEjabberd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const rootPid = child.pid!;
  const url = `http://127.0.0.1:${httpPort}`;

  let lastPids: number[] = [];
  const procs = treeAndUser(rootPid, "ejabberd");
  const stopServer = async (): Promise<{ left: string[] }> => {
    lastPids = procs();
    if (child.exitCode === null && child.signalCode === null) {
      try {
        execFileSync(EJABBERDCTL, [...ctlArgs, "stop"], { ...asEjabberd, stdio: "ignore", timeout: 30_000 });
      } catch {
        /* not answering: signals below */
      }
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 30_000)))]);
      clearTimeout(timer);
      if (!done) {
        for (const pid of pidTree(rootPid).reverse()) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
        await exited;
      }
    }
    // No process of this instance may be left (ejabberdctl's own helpers included).
    for (let i = 0; i < 50; i++) {
      if (lastPids.every((pid) => !existsSync(`/proc/${pid}`)) && !userProcesses().some((l) => l.includes(node))) break;
      await sleep(100);
    }
    const left = [...lastPids.filter((pid) => existsSync(`/proc/${pid}`)).map((pid) => `pid ${pid}`), ...userProcesses().filter((l) => l.includes(node))];
    // Keep the last run's log (warnings and errors only, at loglevel warning) for a post-mortem.
    try {
      copyFileSync(join(dir, "log", "ejabberd.log"), LAST_LOG);
    } catch {
      /* no log written */
    }
    if (left.length === 0) rmSync(dir, { recursive: true, force: true });
    else console.warn(`ejabberd: processes left after stop (kept ${dir}):\n  ${left.join("\n  ")}`);
    return { left };
  };

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ejabberd exited ${child.exitCode} on start: ${output}`);
    try {
      await api(url, "status", {});
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await stopServer();
        throw new Error(`ejabberd did not answer on ${url}/api within 90 s: ${String(e)}\n${output}`);
      }
      await sleep(250);
    }
  }
  return { url, domain: XMPP_DOMAIN, version: version(), procs, config: text, stop: stopServer };
}

/** Registers a user through the HTTP API (what the generator does for each of its users). */
export function register(url: string, user: string, password: string): Promise<unknown> {
  return api(url, "register", { user, host: XMPP_DOMAIN, password });
}

async function smoke(): Promise<void> {
  const t0 = Date.now();
  const ej = await startEjabberd();
  console.log(`ejabberd ${ej.version} on ${ej.url} in ${Date.now() - t0} ms; processes: ${ej.procs().join(" ")}`);
  try {
    console.log(await register(ej.url, "smoke_a", "pw-smoke-a"));
    console.log(await api(ej.url, "registered_users", { host: XMPP_DOMAIN }));
  } finally {
    const { left } = await ej.stop();
    console.log(left.length === 0 ? "stopped; no process left" : `LEFT: ${left.join(", ")}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  smoke().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
