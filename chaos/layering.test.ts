/**
 * chaos/ sits below sim/ (the simulator reads the scenarios; the fault vocabulary lives in
 * fault-classes.ts): no file here may import from sim/, the one arrow that would run back up.
 */
import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

const SIM_IMPORT = /(?:from|import)\s*\(?\s*["'](?:\.\.\/)+sim\//;

it("chaos/ imports nothing from sim/", () => {
  const dir = new URL("./", import.meta.url);
  // This file names such an import in its own test below; it is the one file not scanned.
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "layering.test.ts");
  expect(files.length).toBeGreaterThan(2);
  const offenders = files.filter((f) => SIM_IMPORT.test(readFileSync(new URL(f, dir), "utf8")));
  expect(offenders).toEqual([]);
});

it("would see such an import", () => {
  expect(SIM_IMPORT.test('import type { FaultClass } from "../sim/faults.js";')).toBe(true);
  expect(SIM_IMPORT.test('import { x } from "./fault-classes.js";')).toBe(false);
});
