/**
 * Command-line flags of the simulator, validated with zod: a bad flag is answered with a
 * sentence naming it, never a stack trace.
 */
import { z } from "zod";
import { FAULT_CLASSES, type FaultClass } from "../faults.js";
import { DEFAULT_OPTIONS, simOptions, type SimOptions } from "../options.js";
import { RELAY_VARIANTS } from "../../core/region/index.js";
import { SCENARIOS, SCENARIO_NAMES, type ScenarioName } from "../../chaos/scenarios.js";

const faultList = z
  .string()
  .transform((s) => s.split(",").map((x) => x.trim()).filter((x) => x !== ""))
  .pipe(z.array(z.enum(FAULT_CLASSES)));

const flags = z.object({
  seed: z.coerce.number().int().min(0).max(2 ** 48),
  users: z.coerce.number().int().min(2).max(10_000).default(DEFAULT_OPTIONS.users),
  "devices-max": z.coerce.number().int().min(1).max(5).default(DEFAULT_OPTIONS.devices_max),
  groups: z.coerce.number().int().min(0).max(1_000).default(DEFAULT_OPTIONS.groups),
  "group-size-max": z.coerce.number().int().min(3).max(500).default(DEFAULT_OPTIONS.group_size_max),
  messages: z.coerce.number().int().min(0).max(1_000_000).default(DEFAULT_OPTIONS.messages),
  gateways: z.coerce.number().int().min(1).max(64).default(DEFAULT_OPTIONS.gateways),
  routers: z.coerce.number().int().min(1).max(64).default(DEFAULT_OPTIONS.routers),
  partitions: z.coerce.number().int().min(1).max(256).default(DEFAULT_OPTIONS.partitions),
  duration: z.coerce.number().int().min(1_000).max(3_600_000).default(DEFAULT_OPTIONS.fault_ms),
  "heal-deadline": z.coerce.number().int().min(1_000).max(3_600_000).default(DEFAULT_OPTIONS.heal_deadline_ms),
  faults: faultList.optional(),
  "no-faults": faultList.optional(),
  scenario: z.enum(SCENARIO_NAMES as [ScenarioName, ...ScenarioName[]]).optional(),
  "router-variant": z.enum(["correct", "commit_before_persist", "order_by_gateway_clock", "delete_pending_on_delivery", "dedup_cache_only", "persist_without_waiting", "commit_past_in_flight", "chain_ignores_checkpoint", "id_from_router_clock", "redeliver_to_current_members", "receipt_ignores_store"]).default("correct"),
  "gateway-variant": z
    .enum(["correct", "sent_before_append", "resync_skips_emitted", "ack_given_up_as_durable", "acks_rate_limited", "scan_stops_at_full_page", "subscription_cap_at_max", "receipt_goes_back", "frames_limited_by_read_time"])
    .default("correct"),
  "relay-variant": z.enum(RELAY_VARIANTS).default("correct"),
  "regions-max": z.coerce.number().int().min(1).max(8).default(DEFAULT_OPTIONS.regions_max),
  "events-max": z.coerce.number().int().min(1_000).max(1_000_000_000).default(DEFAULT_OPTIONS.events_max),
  json: z.boolean().default(false),
  trace: z.boolean().default(false),
  "no-shrink": z.boolean().default(false),
  "no-backlog": z.boolean().default(false),
  "no-membership": z.boolean().default(false),
  "no-contract-burst": z.boolean().default(false),
  "no-presence-cap": z.boolean().default(false),
  n: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  workers: z.coerce.number().int().min(1).max(64).optional(),
});

export type CliFlags = z.infer<typeof flags>;

/** Parses `--name value`, `--name=value` and boolean `--name`. */
export function parseFlags(argv: readonly string[], defaults: Record<string, string> = {}): { ok: true; flags: CliFlags } | { ok: false; message: string } {
  const raw: Record<string, unknown> = { ...defaults };
  const booleans = new Set(["json", "trace", "no-shrink", "no-backlog", "no-membership", "no-contract-burst", "no-presence-cap"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) return { ok: false, message: `Unexpected argument ${JSON.stringify(arg)}; flags look like --name value.` };
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined];
    if (booleans.has(name)) raw[name] = inline === undefined ? true : inline !== "false";
    else if (inline !== undefined) raw[name] = inline;
    else if (i + 1 < argv.length) raw[name] = argv[++i];
    else return { ok: false, message: `Flag --${name} needs a value.` };
  }
  const parsed = flags.strict().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `--${issue.path.join(".")}` : "the flags";
    if (issue.code === "unrecognized_keys") return { ok: false, message: `Unknown flag ${issue.keys.map((k) => `--${k}`).join(", ")}.` };
    return { ok: false, message: `${where}: ${issue.message}.` };
  }
  return { ok: true, flags: parsed.data };
}

export function toOptions(f: CliFlags): SimOptions {
  return simOptions(f.seed, {
    users: f.users,
    devices_max: f["devices-max"],
    groups: f.groups,
    group_size_max: f["group-size-max"],
    messages: f.messages,
    gateways: f.gateways,
    routers: f.routers,
    partitions: f.partitions,
    fault_ms: f.duration,
    heal_deadline_ms: f["heal-deadline"],
    only_faults:
      f.scenario !== undefined
        ? new Set<FaultClass>([...SCENARIOS[f.scenario].faults, ...(f.faults ?? [])])
        : f.faults === undefined
          ? null
          : new Set<FaultClass>(f.faults),
    off_faults: new Set<FaultClass>(f["no-faults"] ?? []),
    router_variant: f["router-variant"],
    gateway_variant: f["gateway-variant"],
    relay_variant: f["relay-variant"],
    regions_max: f["regions-max"],
    events_max: f["events-max"],
    backlog: !f["no-backlog"],
    membership: !f["no-membership"],
    contract_burst: !f["no-contract-burst"],
    presence_cap: !f["no-presence-cap"],
    trace: f.trace,
  });
}

/** The flags that reproduce `options` exactly (for the replay command). */
export function toArgs(o: SimOptions): string {
  const parts: string[] = [];
  const d = DEFAULT_OPTIONS;
  if (o.users !== d.users) parts.push(`--users ${o.users}`);
  if (o.devices_max !== d.devices_max) parts.push(`--devices-max ${o.devices_max}`);
  if (o.groups !== d.groups) parts.push(`--groups ${o.groups}`);
  if (o.group_size_max !== d.group_size_max) parts.push(`--group-size-max ${o.group_size_max}`);
  if (o.messages !== d.messages) parts.push(`--messages ${o.messages}`);
  if (o.gateways !== d.gateways) parts.push(`--gateways ${o.gateways}`);
  if (o.routers !== d.routers) parts.push(`--routers ${o.routers}`);
  if (o.partitions !== d.partitions) parts.push(`--partitions ${o.partitions}`);
  if (o.fault_ms !== d.fault_ms) parts.push(`--duration ${o.fault_ms}`);
  if (o.heal_deadline_ms !== d.heal_deadline_ms) parts.push(`--heal-deadline ${o.heal_deadline_ms}`);
  if (o.only_faults !== null) parts.push(`--faults ${[...o.only_faults].join(",") || ","}`);
  if (o.off_faults.size > 0) parts.push(`--no-faults ${[...o.off_faults].join(",")}`);
  if (o.router_variant !== "correct") parts.push(`--router-variant ${o.router_variant}`);
  if (o.gateway_variant !== "correct") parts.push(`--gateway-variant ${o.gateway_variant}`);
  if (o.relay_variant !== "correct") parts.push(`--relay-variant ${o.relay_variant}`);
  if (o.regions_max !== d.regions_max) parts.push(`--regions-max ${o.regions_max}`);
  if (!o.backlog) parts.push("--no-backlog");
  if (!o.membership) parts.push("--no-membership");
  if (!o.contract_burst) parts.push("--no-contract-burst");
  if (!o.presence_cap) parts.push("--no-presence-cap");
  return parts.join(" ");
}
