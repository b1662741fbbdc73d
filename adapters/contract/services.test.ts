/**
 * What `make test` stops when it ends (deploy/test-suite.sh): only the services its own
 * suites started. Tested without starting or stopping anything: the services are shared.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensureService, recordStarted, servicesToStop, STARTED_FILE_VARIABLE } from "./services.js";

describe("the services make test started, and only those, are stopped after it", () => {
  const dirs: string[] = [];
  const file = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "started-"));
    dirs.push(dir);
    return join(dir, "started");
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    delete process.env[STARTED_FILE_VARIABLE];
  });

  it("stops each recorded service once, in a fixed order, and nothing it cannot name", () => {
    expect(servicesToStop("")).toEqual([]);
    expect(servicesToStop("kafka\nredis\nkafka\n")).toEqual(["redis", "kafka"]);
    expect(servicesToStop("cassan\nall\n; rm -rf /\npostgres")).toEqual(["postgres"]);
  });

  it("records a start only where make test asked for a record", () => {
    const f = file();
    recordStarted("redis", undefined);
    recordStarted("kafka", f);
    recordStarted("cassandra", f);
    expect(servicesToStop(readFileSync(f, "utf8"))).toEqual(["kafka", "cassandra"]);
  });

  it("records nothing for a service that was already listening (someone else's, or started earlier)", async () => {
    const f = file();
    process.env[STARTED_FILE_VARIABLE] = f;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      await ensureService("redis", port);
    } finally {
      server.close();
    }
    expect(() => readFileSync(f, "utf8")).toThrow(/ENOENT/);
  });
});
