/**
 * The web page in a real browser against the real all-in-one node: two people sign up in
 * two browser contexts, open a chat, exchange messages and watch each other's ticks turn to
 * read, and one sends a photo that the other opens (GET /api/v1/media/{id}, nothing more).
 * Debian's Chromium driven by playwright-core (the Makefile installs it); the page and the
 * node talk over loopback only. Saves a screenshot of each side to web/test/out/.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { allInOneEnv } from "../../nodes/config.js";
import { startAllInOne, type AllInOne } from "../../nodes/all-in-one.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const PASSWORD = "correct-horse-1";

let node: AllInOne;
let dir: string;
const contexts: { context: BrowserContext; profile: string }[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run 'make test' (it installs Debian's chromium) or apt-get install -y chromium`);
  if (!existsSync(join(root, "web/dist/index.html"))) execFileSync(process.execPath, [join(root, "web/build.mjs")], { cwd: root, stdio: "inherit" });
  dir = mkdtempSync(join(tmpdir(), "chat-browser-"));
  node = await startAllInOne(allInOneEnv.parse({ PORT: "0", DATA_DIR: dir, LOG_LEVEL: "silent", WEB_DIR: join(root, "web/dist") }));
}, 120_000);

afterAll(async () => {
  for (const c of contexts) {
    await c.context.close();
    rmSync(c.profile, { recursive: true, force: true });
  }
  await node?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function person(): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), "chat-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1100, height: 720 } });
  contexts.push({ context, profile });
  // Only the node may be reached.
  await context.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()));
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

async function signUp(page: Page, username: string): Promise<void> {
  await page.goto(`${node.url}/`);
  await page.fill("#auth-username", username);
  await page.fill("#auth-password", PASSWORD);
  await page.click("button[value=signup]");
  await page.waitForSelector(".sidebar");
}

it("two people sign up, chat, and see each other's ticks turn to read", async () => {
  const suffix = String(Date.now() % 100_000);
  const alice = await person();
  const bob = await person();
  await signUp(alice, `alice${suffix}`);
  await signUp(bob, `bob${suffix}`);

  await alice.click("button[aria-label='New chat']");
  await alice.fill("#new-chat-username", `bob${suffix}`);
  await alice.keyboard.press("Enter");
  await alice.waitForSelector(`.chat-title:has-text('bob${suffix}')`);
  await alice.fill("#composer-text", "Hi Bob, lunch at 12:30?");
  await alice.keyboard.press("Enter");
  const mine = alice.locator(".msg.own", { hasText: "lunch at 12:30" });
  await mine.locator(".tick-sent, .tick-delivered, .tick-read").first().waitFor({ timeout: 10_000 });

  // Bob sees the chat appear with an unread message, opens it, and answers.
  const row = bob.locator(".chat-row", { has: bob.locator(".chat-row-title", { hasText: `alice${suffix}` }) });
  await row.waitFor({ timeout: 10_000 });
  await row.click();
  await bob.waitForSelector(".msg.theirs >> text=lunch at 12:30", { timeout: 10_000 });
  await bob.fill("#composer-text", "Yes! See you there.");
  await bob.keyboard.press("Enter");

  // Alice: her message turns read (Bob has it on screen); she sees Bob's answer, which Bob then sees read.
  await mine.locator(".tick-read").waitFor({ timeout: 10_000 });
  await alice.waitForSelector(".msg.theirs >> text=See you there", { timeout: 10_000 });
  const answer = bob.locator(".msg.own", { hasText: "See you there" });
  await answer.locator(".tick-read").waitFor({ timeout: 10_000 });

  mkdirSync(join(here, "out"), { recursive: true });
  await alice.screenshot({ path: join(here, "out", "browser-e2e-alice.png") });
  await bob.screenshot({ path: join(here, "out", "browser-e2e-bob.png") });
  expect((alice as Page & { errors: string[] }).errors).toEqual([]);
  expect((bob as Page & { errors: string[] }).errors).toEqual([]);
}, 120_000);

/** A real PNG of one colour (IHDR, one IDAT, IEND, with their CRCs). */
function solidPng(width: number, height: number, rgb: readonly [number, number, number]): Buffer {
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk("IHDR", header), pngChunk("IDAT", deflateSync(raw)), pngChunk("IEND", Buffer.alloc(0))]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

it("a recipient opens a photo sent to them, by its media_id alone", async () => {
  const suffix = String(Date.now() % 100_000);
  const alice = await person();
  const bob = await person();
  await signUp(alice, `alicep${suffix}`);
  await signUp(bob, `bobp${suffix}`);
  const media_calls: string[] = [];
  bob.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/v1/media/")) media_calls.push(new URL(r.url()).pathname + new URL(r.url()).search);
  });

  await alice.click("button[aria-label='New chat']");
  await alice.fill("#new-chat-username", `bobp${suffix}`);
  await alice.keyboard.press("Enter");
  await alice.waitForSelector(`.chat-title:has-text('bobp${suffix}')`);
  await alice.setInputFiles("#composer-file", { name: "sunset.png", mimeType: "image/png", buffer: solidPng(64, 40, [250, 140, 30]) });
  await alice.locator(".msg.own img.photo").first().waitFor({ timeout: 10_000 });
  await alice.locator(".msg.own:not(.pending) .tick-sent, .msg.own:not(.pending) .tick-delivered, .msg.own:not(.pending) .tick-read").first().waitFor({ timeout: 10_000 });

  const row = bob.locator(".chat-row", { has: bob.locator(".chat-row-title", { hasText: `alicep${suffix}` }) });
  await row.waitFor({ timeout: 10_000 });
  await row.click();
  const photo = bob.locator(".msg.theirs img.photo");
  await photo.waitFor({ timeout: 10_000 });
  // Loaded for real: the download URL answered the PNG's bytes and the browser decoded them.
  await bob.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>(".msg.theirs img.photo");
    return img !== null && img.complete && img.naturalWidth === 64 && img.naturalHeight === 40;
  }, undefined, { timeout: 10_000 });
  expect(await photo.getAttribute("class")).not.toContain("broken");
  expect(media_calls.length).toBeGreaterThan(0);
  for (const call of media_calls) expect(call).toMatch(/^\/api\/v1\/media\/[A-Za-z0-9_-]+$/);

  mkdirSync(join(here, "out"), { recursive: true });
  await bob.screenshot({ path: join(here, "out", "browser-e2e-photo-bob.png") });
  expect((alice as Page & { errors: string[] }).errors).toEqual([]);
  expect((bob as Page & { errors: string[] }).errors).toEqual([]);
}, 120_000);

it("a file above the single-upload limit goes up in parts, and the recipient opens it by its media_id alone", async () => {
  const suffix = String(Date.now() % 100_000);
  const alice = await person();
  const bob = await person();
  await signUp(alice, `aliceu${suffix}`);
  await signUp(bob, `bobu${suffix}`);
  const alice_calls: string[] = [];
  alice.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith("/api/v1/media") || url.pathname.startsWith("/media/")) alice_calls.push(`${r.method()} ${url.pathname}`);
  });
  const bob_calls: string[] = [];
  bob.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/v1/media/")) bob_calls.push(new URL(r.url()).pathname + new URL(r.url()).search);
  });

  await alice.click("button[aria-label='New chat']");
  await alice.fill("#new-chat-username", `bobu${suffix}`);
  await alice.keyboard.press("Enter");
  await alice.waitForSelector(`.chat-title:has-text('bobu${suffix}')`);
  // 26 MiB: one MiB over what a single PUT takes, so six parts of 5 MiB and a last one of 1 MiB.
  const size = 26 * 1024 * 1024;
  const file = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) file[i] = (i >> 12) & 0xff;
  await alice.setInputFiles("#composer-file", { name: "holiday.zip", mimeType: "application/zip", buffer: file });
  await alice.locator(".msg.own:not(.pending) .tick-sent, .msg.own:not(.pending) .tick-delivered, .msg.own:not(.pending) .tick-read").first().waitFor({ timeout: 60_000 });
  expect(alice_calls).toContain("POST /api/v1/media/uploads");
  expect(alice_calls.filter((c) => /^PUT \/media\/[A-Za-z0-9_-]+\/parts\/\d+$/.test(c))).toHaveLength(6);
  expect(alice_calls.filter((c) => /\/complete$/.test(c))).toHaveLength(1);
  expect(alice_calls.some((c) => c === "POST /api/v1/media")).toBe(false);

  const row = bob.locator(".chat-row", { has: bob.locator(".chat-row-title", { hasText: `aliceu${suffix}` }) });
  await row.waitFor({ timeout: 10_000 });
  await row.click();
  const link = bob.locator(".msg.theirs a.file");
  await link.waitFor({ timeout: 10_000 });
  await bob.waitForFunction(() => (document.querySelector<HTMLAnchorElement>(".msg.theirs a.file")?.href ?? "").includes("/download"), undefined, { timeout: 10_000 });
  // The link downloads the very bytes that went up in parts.
  const href = await link.getAttribute("href");
  const downloaded = Buffer.from(await (await fetch(href!)).arrayBuffer());
  expect(downloaded.length).toBe(size);
  expect(downloaded.equals(file)).toBe(true);
  for (const call of bob_calls) expect(call).toMatch(/^\/api\/v1\/media\/[A-Za-z0-9_-]+$/);
  expect((alice as Page & { errors: string[] }).errors).toEqual([]);
  expect((bob as Page & { errors: string[] }).errors).toEqual([]);
}, 180_000);
