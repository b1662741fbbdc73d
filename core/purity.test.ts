/**
 * Determinism is sacred in core/ and sim/, and in nodes/hosts/, which the simulator runs:
 * time and randomness arrive as inputs (or, in hosts, through the Clock and Timers ports).
 * This test walks the TypeScript syntax tree of every non-test file there and fails on any
 * clock read, random draw, timer, IO import, or an import from outside core/ (in core/) or
 * outside core/ and nodes/hosts/ (in nodes/hosts/). A folder that is missing, or holds no
 * source, fails too: a checker over zero files checks nothing.
 * It parses rather than greps, so a comment that mentions Date.now is fine and a call
 * hidden behind a line break is not. A line in sim/ that only measures the simulator's own
 * wall-clock speed may carry the comment `allow-nondeterminism`. sim/cli/ is the command-line
 * shell around the simulator (arguments, worker threads, output): it may do IO, but clock
 * reads there still need the comment.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const FORBIDDEN_GLOBAL_CALLS = new Set(["setTimeout", "setInterval", "setImmediate", "queueMicrotask", "fetch", "require"]);
const FORBIDDEN_MEMBERS: ReadonlyArray<[string, string]> = [
  ["Date", "now"],
  ["Math", "random"],
  ["performance", "now"],
  ["crypto", "getRandomValues"],
  ["crypto", "randomUUID"],
  ["process", "hrtime"],
];
const FORBIDDEN_IDENTIFIERS = new Set(["process", "performance", "globalThis", "window", "document"]);
const NODE_BUILTINS = new Set(["fs", "path", "os", "crypto", "child_process", "net", "http", "https", "worker_threads", "timers", "perf_hooks", "dgram", "dns", "tls", "url", "util", "events", "stream", "zlib", "cluster"]);

type Folder = "core" | "sim" | "nodes/hosts";

function findImpurities(fileName: string, text: string, folder: Folder): string[] {
  const shell = folder === "sim" && relative(ROOT, fileName).startsWith(join("sim", "cli"));
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const problems: string[] = [];
  const lines = text.split("\n");
  const where = (node: ts.Node): string => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return `${fileName}:${line + 1}`;
  };
  const allowed = (node: ts.Node): boolean => {
    if (folder !== "sim") return false;
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return (lines[line] ?? "").includes("allow-nondeterminism");
  };
  const flag = (node: ts.Node, what: string): void => {
    if (!allowed(node)) problems.push(`${where(node)}: ${what}`);
  };
  const checkSpecifier = (node: ts.Node, spec: string): void => {
    if (!shell && (spec.startsWith("node:") || NODE_BUILTINS.has(spec.split("/")[0] ?? ""))) {
      flag(node, `imports the IO module "${spec}"`);
      return;
    }
    if (folder === "core" && spec.startsWith(".")) {
      const target = relative(ROOT, resolve(dirname(fileName), spec));
      if (!target.startsWith("core/")) flag(node, `imports "${spec}" from outside core/`);
    }
    if (folder === "nodes/hosts" && spec.startsWith(".")) {
      const target = relative(ROOT, resolve(dirname(fileName), spec));
      if (!target.startsWith("core/") && !target.startsWith("nodes/hosts/")) flag(node, `imports "${spec}" from outside core/ and nodes/hosts/`);
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const spec = node.moduleSpecifier;
      if (spec !== undefined && ts.isStringLiteral(spec)) checkSpecifier(node, spec.text);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteral(arg)) checkSpecifier(node, arg.text);
      else flag(node, "dynamic import of a computed module");
    }
    if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) checkSpecifier(node, arg.literal.text);
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "Date") {
      flag(node, "constructs a Date (reads the clock when called without arguments; pass times as numbers)");
    }
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      for (const [object, member] of FORBIDDEN_MEMBERS) {
        if (node.expression.text === object && node.name.text === member) flag(node, `calls ${object}.${member}`);
      }
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && FORBIDDEN_GLOBAL_CALLS.has(node.expression.text)) {
      flag(node, `calls ${node.expression.text}`);
    }
    if (ts.isIdentifier(node) && FORBIDDEN_IDENTIFIERS.has(node.text) && !(shell && node.text === "process")) {
      const parent = node.parent;
      const isOwnName = parent !== undefined && (ts.isPropertyAccessExpression(parent) && parent.name === node || ts.isPropertyAssignment(parent) && parent.name === node);
      if (!isOwnName) flag(node, `uses the global ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
    }
  };
  // A missing folder throws here, and fails the test: it must not pass over zero files.
  walk(join(ROOT, folder));
  return out;
}

/** The fewest source files each folder holds today, give or take: fewer means a folder went missing. */
const FILES_MIN: Record<Folder, number> = { core: 30, sim: 10, "nodes/hosts": 3 };

describe("determinism of core/, sim/ and nodes/hosts/", () => {
  for (const folder of ["core", "sim", "nodes/hosts"] as const) {
    it(`${folder}/ reads no clock, draws no randomness, sets no timer and does no IO`, () => {
      const files = sourceFiles(folder);
      expect(files.length, `${folder}/ holds ${files.length} source files; a checker over (almost) none checks nothing`).toBeGreaterThanOrEqual(FILES_MIN[folder]);
      const problems = files.flatMap((file) => findImpurities(file, readFileSync(file, "utf8"), folder));
      expect(problems).toEqual([]);
    });
  }

  it("fails on a folder that is missing, rather than passing over zero files", () => {
    expect(() => sourceFiles("no-such-folder")).toThrow();
  });

  it("keeps nodes/hosts/ to core/ and itself, and off the wall clock", () => {
    const host = join(ROOT, "nodes", "hosts", "x.ts");
    expect(findImpurities(host, 'import type { Log } from "../../core/ports/log.js";\nimport { within } from "./task.js";', "nodes/hosts")).toEqual([]);
    expect(findImpurities(host, 'import { timersReal } from "../timers-real.js";', "nodes/hosts").length).toBeGreaterThan(0);
    expect(findImpurities(host, 'import { LogMemory } from "../../adapters/memory/log-memory.js";', "nodes/hosts").length).toBeGreaterThan(0);
    expect(findImpurities(host, "export const t = () => setTimeout(() => {}, 1);", "nodes/hosts").length).toBeGreaterThan(0);
  });

  // The checker checks: each of these must be caught.
  const bad: Array<[string, string]> = [
    ["Date.now", "export const t = () => Date.now();"],
    ["new Date", "export const t = () => new Date().getTime();"],
    ["Math.random", "export const r = Math\n  .random();"],
    ["setTimeout", "setTimeout(() => {}, 1);"],
    ["setInterval", "setInterval(() => {}, 1);"],
    ["performance.now", "export const t = performance.now();"],
    ["crypto.randomUUID", "export const id = crypto.randomUUID();"],
    ["node: import", 'import { readFileSync } from "node:fs";'],
    ["bare builtin import", 'import * as fs from "fs";'],
    ["dynamic node import", 'export const m = () => import("node:net");'],
    ["process", "export const e = process.env.X;"],
    ["adapters import", 'import { LogMemory } from "../../adapters/memory/log-memory.js";'],
    ["nodes import", 'import { x } from "../../nodes/x.js";'],
    ["sim import", 'export { y } from "../../sim/y.js";'],
  ];
  for (const [what, text] of bad) {
    it(`catches ${what} in core/`, () => {
      expect(findImpurities(join(ROOT, "core", "router", "x.ts"), text, "core").length).toBeGreaterThan(0);
    });
  }

  it("lets sim/cli/ do IO but not read the clock unmarked", () => {
    const cli = join(ROOT, "sim", "cli", "x.ts");
    expect(findImpurities(cli, 'import { Worker } from "node:worker_threads";\nexport const a = process.argv;', "sim")).toEqual([]);
    expect(findImpurities(cli, "export const t = Date.now();", "sim").length).toBeGreaterThan(0);
    expect(findImpurities(join(ROOT, "sim", "x.ts"), 'import { Worker } from "node:worker_threads";', "sim").length).toBeGreaterThan(0);
  });

  it("lets comments and strings mention Date.now, and lets sim/ mark wall-clock measurement", () => {
    expect(findImpurities(join(ROOT, "core", "x.ts"), '// Date.now is forbidden\nexport const s = "Math.random";', "core")).toEqual([]);
    expect(findImpurities(join(ROOT, "sim", "x.ts"), "const t = performance.now(); // allow-nondeterminism: speed only", "sim")).toEqual([]);
    expect(findImpurities(join(ROOT, "core", "x.ts"), "const t = performance.now(); // allow-nondeterminism", "core").length).toBeGreaterThan(0);
  });
});
