/**
 * The workload classes beyond plain text: what the ten checkers cannot see, checked here
 * over a few seeds. A media message naming a media_id its sender never uploaded must end in
 * a definite `fail` and never be displayed anywhere (the gateway's ownership check), while
 * the sender's own uploads go through.
 */
import { expect, it } from "vitest";
import { runSimulation } from "./run.js";
import { simOptions } from "./options.js";

it("refuses media its sender never uploaded, and delivers the media it did (seeds 1..3)", () => {
  let stolen = 0;
  let owned = 0;
  for (let seed = 1; seed <= 3; seed++) {
    const r = runSimulation(simOptions(seed));
    expect(r.violations).toEqual([]);
    const shown = new Set(r.history.displays.map((d) => d.client_msg_id));
    for (const s of r.history.sends) {
      if (s.content.startsWith("stolen-")) {
        stolen++;
        expect(s.outcome, `seed ${seed}: ${s.content} from ${s.device.user_id}`).not.toBe("ok");
        expect(shown.has(s.client_msg_id), `seed ${seed}: ${s.content} was displayed`).toBe(false);
      } else if (s.content.startsWith("media-") && s.outcome === "ok") owned++;
    }
  }
  expect(stolen).toBeGreaterThan(0);
  expect(owned).toBeGreaterThan(0);
}, 120_000);

it("watch lists at the presence cap: a seed that draws none runs exactly as with the class off; one that draws them reaches the cap, has one past it refused, and passes", () => {
  // Seed 1 draws no watch list at the cap (its own stream decides): same trace and events as with the class off.
  const drawn = runSimulation(simOptions(1));
  const off = runSimulation(simOptions(1, { presence_cap: false }));
  expect(drawn.summary.workloads.presence_at_cap ?? 0).toBe(0);
  expect(drawn.summary.trace_hash).toBe(off.summary.trace_hash);
  expect(drawn.summary.events).toBe(off.summary.events);
  const at_cap = runSimulation(simOptions(3));
  console.log(`seed 3: presence_at_cap ${at_cap.summary.workloads.presence_at_cap}, presence_over_cap_refused ${at_cap.summary.workloads.presence_over_cap_refused}`);
  expect(at_cap.summary.workloads.presence_at_cap ?? 0).toBeGreaterThan(0);
  expect(at_cap.summary.workloads.presence_over_cap_refused ?? 0).toBeGreaterThan(0);
  expect(at_cap.violations).toEqual([]);
}, 120_000);
