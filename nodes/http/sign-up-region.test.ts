/**
 * Sign-up with a home region (docs/API.md, POST /api/v1/users): with several regions the body
 * may name one of them (recorded with the user; absent, HOME_REGION_DEFAULT); a region the
 * deployment does not have, or any region in a one-region deployment, is refused with
 * INVALID_FIELD and a sentence naming the regions.
 */
import pino from "pino";
import { expect, it } from "vitest";
import { ClockManual } from "../../adapters/memory/clock-memory.js";
import { DirectoryMemory } from "../../adapters/memory/directory-memory.js";
import { RandomSeeded } from "../../adapters/memory/random-memory.js";
import { LIMITS } from "../../core/limits.js";
import type { UserRecord } from "../../core/ports/directory.js";
import { Tokens } from "../auth.js";
import { Metrics } from "../metrics.js";
import type { DeviceSessions } from "../sessions.js";
import { registerApi, type ApiServices } from "./api.js";
import { createApp } from "./app.js";

const unused = new Proxy({}, { get: (_t, name) => () => Promise.reject(new Error(`not used by this test: ${String(name)}`)) });

function api(regions: ApiServices["regions"]) {
  const directory = new DirectoryMemory();
  const created: UserRecord[] = [];
  const recording = new Proxy(directory, {
    get: (target, name, receiver) => (name === "createUser" ? async (u: UserRecord) => {
            created.push(u);
            return target.createUser(u);
          } : Reflect.get(target, name, receiver)),
  });
  const app = createApp(pino({ level: "silent" }), LIMITS, new Metrics(), () => "ok");
  registerApi(app, {
    directory: recording,
    messages: unused as ApiServices["messages"],
    presence: unused as ApiServices["presence"],
    blobs: unused as ApiServices["blobs"],
    tokens: new Tokens("0123456789abcdef0123456789abcdef-test-secret"),
    clock: new ClockManual(1_800_000_000_000),
    random: new RandomSeeded(1),
    limits: LIMITS,
    public_url: () => "http://127.0.0.1",
    rest_burst: 1_000,
    rest_per_second: 1_000,
    sessions: { current: async () => true } as unknown as DeviceSessions,
    ...(regions === undefined ? {} : { regions }),
  });
  const signUp = (body: unknown) => app.inject({ method: "POST", url: "/api/v1/users", headers: { "content-type": "application/json" }, payload: JSON.stringify(body) });
  return { signUp, created };
}

it("records the home region chosen at sign-up, or the default one", async () => {
  const a = api({ names: new Set(["eu", "us"]), fallback: "eu" });
  const chosen = await a.signUp({ username: "alice", password: "correct horse battery", home_region: "us" });
  expect([chosen.statusCode, chosen.json().home_region]).toEqual([201, "us"]);
  const fallback = await a.signUp({ username: "bob", password: "correct horse battery" });
  expect([fallback.statusCode, fallback.json().home_region]).toEqual([201, "eu"]);
  expect(a.created.map((u) => [u.username, u.home_region])).toEqual([["alice", "us"], ["bob", "eu"]]);
});

it("refuses a region the deployment does not have, naming its regions", async () => {
  const a = api({ names: new Set(["eu", "us"]), fallback: "eu" });
  const r = await a.signUp({ username: "carol", password: "correct horse battery", home_region: "ap" });
  expect([r.statusCode, r.json().error.code]).toEqual([400, "INVALID_FIELD"]);
  expect(r.json().error.message).toBe("home_region: ap is not a region here (this deployment's regions are eu, us).");
  const malformed = await a.signUp({ username: "dave", password: "correct horse battery", home_region: "eu west" });
  expect([malformed.statusCode, malformed.json().error.code]).toEqual([400, "INVALID_FIELD"]);
  expect(a.created).toEqual([]);
});

it("in a one-region deployment records no region and refuses one that is named", async () => {
  const a = api(undefined);
  const plain = await a.signUp({ username: "erin", password: "correct horse battery" });
  expect([plain.statusCode, plain.json().home_region]).toEqual([201, undefined]);
  const named = await a.signUp({ username: "frank", password: "correct horse battery", home_region: "eu" });
  expect([named.statusCode, named.json().error.message]).toEqual([400, "home_region: eu is not a region here (this deployment has one region and records none)."]);
  expect(a.created.map((u) => u.home_region)).toEqual([undefined]);
});
