/**
 * The resumable upload routes with the node's own clock moved past an upload's expiry
 * (docs/API.md "Resumable uploads"): the expired upload answers 404 on every call, and its
 * declaration and parts are removed from the media folder at that first call, before any sweep.
 * The routes run as in the node (createApp + registerApi) on a real folder; the stores they
 * do not touch are stubs that refuse to be used.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, beforeEach, expect, it } from "vitest";
import { BlobStoreLocal } from "../../adapters/blob/blob-store-local.js";
import { ClockManual } from "../../adapters/memory/clock-memory.js";
import { RandomSeeded } from "../../adapters/memory/random-memory.js";
import { LIMITS } from "../../core/limits.js";
import { RESUMABLE_PART_BYTES_MIN } from "../../core/ports/blob-store.js";
import { Tokens } from "../auth.js";
import { Metrics } from "../metrics.js";
import type { DeviceSessions } from "../sessions.js";
import { registerApi, type ApiServices } from "./api.js";
import { createApp } from "./app.js";

const SECRET = "0123456789abcdef0123456789abcdef-test-secret";
const T0 = 1_800_000_000_000;
let dir = "";

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "uploads-route-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const unused = new Proxy({}, { get: (_t, name) => () => Promise.reject(new Error(`not used by this test: ${String(name)}`)) });

it("answers 404 for an upload past its expiry, and removes its parts at once", async () => {
  const clock = new ClockManual(T0);
  const tokens = new Tokens(SECRET);
  const blobs = new BlobStoreLocal(dir, "", SECRET, { sync: false });
  const app = createApp(pino({ level: "silent" }), LIMITS, new Metrics(), () => "ok");
  const sessions = { current: async () => true } as unknown as DeviceSessions;
  const services: ApiServices = {
    directory: unused as ApiServices["directory"],
    messages: unused as ApiServices["messages"],
    presence: unused as ApiServices["presence"],
    blobs,
    tokens,
    clock,
    random: new RandomSeeded(1),
    limits: LIMITS,
    public_url: () => "http://127.0.0.1",
    rest_burst: 1_000,
    rest_per_second: 1_000,
    sessions,
  };
  registerApi(app, services);
  const auth = { authorization: `Bearer ${tokens.issue({ user_id: "u_alice", device_id: "d_1", expires_at_ms: T0 + 10 * LIMITS.mediaResumableTtlMs })}` };
  const call = async (method: "GET" | "POST" | "DELETE", url: string, body?: unknown) =>
    app.inject({ method, url, headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });

  const created = await call("POST", "/api/v1/media/uploads", { content_type: "video/mp4", size: RESUMABLE_PART_BYTES_MIN + 10 });
  expect(created.statusCode).toBe(201);
  const media_id = created.json().media_id as string;
  expect(created.json().expires_at).toBe(new Date(T0 + LIMITS.mediaResumableTtlMs).toISOString());
  await blobs.putPart(media_id, 2, new Uint8Array(10));
  expect((await call("GET", `/api/v1/media/uploads/${media_id}`)).json().uploaded_parts).toEqual([2]);
  expect((await readdir(dir)).sort()).toEqual([`${media_id}.part-2`, `${media_id}.upload.json`]);

  clock.advance(LIMITS.mediaResumableTtlMs - 1);
  expect((await call("GET", `/api/v1/media/uploads/${media_id}`)).statusCode).toBe(200);
  clock.advance(1);
  const expired = await call("GET", `/api/v1/media/uploads/${media_id}`);
  expect([expired.statusCode, expired.json().error.code]).toEqual([404, "NOT_FOUND"]);
  expect(await readdir(dir)).toEqual([]);
  for (const [method, url, body] of [
    ["POST", `/api/v1/media/uploads/${media_id}/parts`, { part_numbers: [1] }],
    ["POST", `/api/v1/media/uploads/${media_id}/complete`, undefined],
    ["DELETE", `/api/v1/media/uploads/${media_id}`, undefined],
  ] as const) {
    expect((await call(method, url, body)).statusCode, `${method} ${url}`).toBe(404);
  }
  await app.close();
});
