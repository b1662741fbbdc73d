/**
 * Summarises a saved .cpuprofile (the whole profile: no window, no per-message column):
 *
 *   npx tsx bench/profile/summarise.ts bench/results/profile/node.cpuprofile [--top 40] [--json]
 */
import { readFileSync } from "node:fs";
import { sourceMapResolver, summarise, type CpuProfile } from "./cpuprofile.js";
import { root } from "./common.js";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (file === undefined) {
  console.error("usage: summarise.ts FILE.cpuprofile [--top N] [--json]");
  process.exit(2);
}
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;
const s = summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, { resolve: sourceMapResolver(root), top, root });
if (args.includes("--json")) console.log(JSON.stringify(s, null, 2));
else {
  console.log(`${(s.window.duration_ms / 1000).toFixed(1)} s, ${s.window.samples} samples; busy ${s.busy_pct}%, idle ${s.idle_pct}%`);
  console.log("\nby group (self % of the profile, inclusive %):");
  for (const g of s.groups) console.log(`  ${g.self_pct.toFixed(2).padStart(6)}  ${g.inclusive_pct.toFixed(1).padStart(5)}  ${g.group}`);
  console.log("\nby component:");
  for (const c of s.components) console.log(`  ${c.self_pct.toFixed(2).padStart(6)}  ${c.inclusive_pct.toFixed(1).padStart(5)}  ${c.label}`);
  console.log(`\ntop ${s.functions.length} functions by self time (self %, total %):`);
  for (const f of s.functions) console.log(`  ${f.self_pct.toFixed(2).padStart(6)}  ${f.total_pct.toFixed(1).padStart(5)}  ${f.function}  ${f.place}${f.hottest_line ? `  (hottest ${f.hottest_line}, ${f.hottest_line_pct}%)` : ""}`);
}
