/**
 * Drives the built web client end to end against the fake node on 127.0.0.1 with headless
 * Chromium, checks what a person would check, and saves screenshots to look at. Not a
 * vitest test: it needs /usr/bin/chromium (Debian's `chromium` package) and a build.
 *
 *   node web/build.mjs && npx tsx web/test/screenshot.ts [outDir]
 *
 * The browser plays alice; bots (test/bot.ts) play bob, carol and dave over the WebSocket.
 * Only loopback traffic: the page's own origin is the fake node, and the browser's
 * background services are switched off.
 */
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Bot, rest, signUp, uploadMedia } from "./bot.js";
import { startFakeServer } from "./fake-server.js";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2] ?? join(here, "out");
const PASSWORD = "correct-horse-1";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let failures = 0;
let passes = 0;
function check(what: string, ok: boolean, detail = ""): void {
  if (ok) passes++;
  else failures++;
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail === "" ? "" : ` (${detail})`}`);
}

// ---- a PNG, made here so nothing is fetched ------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A landscape: sky gradient, a sun, hills. */
function makePng(width: number, height: number, hue: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const hill = height * 0.65 + Math.sin(x / 40 + hue) * 18 + Math.sin(x / 13) * 5;
      const sun = (x - width * 0.72) ** 2 + (y - height * 0.3) ** 2 < (height * 0.12) ** 2;
      let r: number, g: number, b: number;
      if (y > hill) [r, g, b] = [40 + (y - hill) * 0.6, 120 + hue * 10 - (y - hill) * 0.5, 60];
      else if (sun) [r, g, b] = [255, 214, 90];
      else [r, g, b] = [90 + y * 0.5, 150 + y * 0.4, 235];
      const at = y * (width * 3 + 1) + 1 + x * 3;
      raw[at] = Math.max(0, Math.min(255, r));
      raw[at + 1] = Math.max(0, Math.min(255, g));
      raw[at + 2] = Math.max(0, Math.min(255, b));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

// ---- browser helpers --------------------------------------------------------------------------

async function browser(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; done: () => Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), "chat-shot-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    deviceScaleFactor: 1,
    timezoneId: "UTC",
    locale: "en-GB",
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.log(`  [page ${m.type()}] ${m.text()}`);
  });
  page.on("pageerror", (e) => {
    failures++;
    console.log(`FAIL page error: ${e.message}`);
  });
  // Only the fake node may be reached.
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.protocol === "data:" || url.protocol === "blob:") return route.continue();
    console.log(`  blocked a request to ${url.href}`);
    failures++;
    return route.abort();
  });
  return { context, page, done: async () => (await context.close(), await rm(profile, { recursive: true, force: true })) };
}

async function shot(page: Page, name: string): Promise<void> {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path });
  console.log(`     screenshot ${path}`);
}

async function signIn(page: Page, base: string, username: string): Promise<void> {
  await page.goto(base + "/");
  await page.fill("#auth-username", username);
  await page.fill("#auth-password", PASSWORD);
  await page.click("button[value=signin]");
  await page.waitForSelector(".sidebar");
}

const rowOf = (page: Page, title: string) => page.locator(".chat-row", { has: page.locator(".chat-row-title", { hasText: title }) });

// ---- the run ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const fake = await startFakeServer({ port: 0 });
  const base = fake.url;
  console.log(`fake node on ${base}`);

  const alice = await signUp(base, "alice", PASSWORD);
  const bob = await signUp(base, "bob", PASSWORD);
  const carol = await signUp(base, "carol", PASSWORD);
  const dave = await signUp(base, "dave.k", PASSWORD);
  const bobBot = await Bot.connect(base, bob);
  const carolBot = await Bot.connect(base, carol);
  const daveBot = await Bot.connect(base, dave);

  // History: 120 messages from dave (scroll-back), a group with a photo, two from bob.
  for (let i = 1; i <= 120; i++) await daveBot.say({ to: alice.user_id }, `Dave's note number ${i}`);
  const group = await rest<{ group_id: string }>(base, "POST", "/api/v1/groups", { name: "Weekend trip", member_ids: [alice.user_id, carol.user_id] }, bob.token);
  await bobBot.say({ group_id: group.group_id }, "Who's in for the ride on Saturday? 🚲");
  await carolBot.say({ group_id: group.group_id }, "Me! Leaving from the bakery at 9?");
  const photo = await uploadMedia(base, bob, makePng(480, 300, 1), "image/png", "route.png");
  await bobBot.say({ group_id: group.group_id }, photo, "image");
  await bobBot.say({ to: alice.user_id }, "Hey Alice! Are we still on for lunch?");
  await bobBot.say({ to: alice.user_id }, "I found a new place near the station: https://example.invalid/menu");

  // 1. Sign-in page.
  const a = await browser({ width: 1200, height: 780 });
  const page = a.page;
  await page.goto(base + "/");
  await page.waitForSelector("#auth-username");
  await shot(page, "01-signin");
  await page.fill("#auth-username", "alice");
  await page.fill("#auth-password", "wrong-password");
  await page.click("button[value=signin]");
  await page.waitForSelector("#auth-error:has-text('Wrong username or password')");
  check("a wrong password is told plainly", true);

  // 2. Inbox with unread counts and previews.
  await signIn(page, base, "alice");
  await page.waitForFunction(() => document.querySelectorAll(".chat-row").length === 3);
  await page.waitForTimeout(800); // pending replay and names settle
  const badges = await page.$$eval(".chat-row", (rows) => rows.map((r) => `${r.querySelector(".chat-row-title")?.textContent}:${r.querySelector(".badge")?.textContent ?? 0}`));
  check("inbox lists three chats, newest first, with unread counts", JSON.stringify(badges) === JSON.stringify(["bob:2", "Weekend trip:3", "dave.k:120"]), badges.join(" "));
  await shot(page, "02-inbox");

  // 3. A direct chat: open, read, reply; ticks go sent -> delivered -> read; typing; presence.
  bobBot.autoAck = null;
  await rowOf(page, "bob").click();
  await page.waitForSelector(".msg.theirs >> text=Are we still on for lunch?");
  await page.waitForSelector(".chat-subtitle:has-text('online')");
  check("bob shows online with a green dot", (await page.locator(".chat-head .dot-online").count()) === 1);
  const readAck = await bobBot.waitFor((f) => f.event === "delivery_receipt" && f.data.status === "read", 3_000).then(
    () => true,
    () => false,
  );
  check("opening the chat marks bob's messages read (bob sees read receipts)", readAck);
  check("the unread badge is gone", (await rowOf(page, "bob").locator(".badge").count()) === 0);
  await page.fill("#composer-text", "Yes! 12:30 works for me.");
  await page.keyboard.press("Enter");
  const mine = page.locator(".msg.own", { hasText: "12:30 works" });
  await mine.locator(".tick-sent").waitFor();
  check("my message shows one tick once sent", true);
  const toBob = bobBot.received.find((m) => m.content.includes("12:30"))!;
  bobBot.send({ event: "ack", data: { message_id: toBob.message_id, status: "delivered", conversation_id: toBob.conversation_id } });
  await mine.locator(".tick-delivered").waitFor();
  check("two grey ticks once bob's device has it", true);
  bobBot.send({ event: "ack", data: { message_id: toBob.message_id, status: "read", conversation_id: toBob.conversation_id } });
  await mine.locator(".tick-read").waitFor();
  check("two blue ticks once bob read it", true);
  bobBot.send({ event: "typing", data: { to: alice.user_id } });
  await page.waitForSelector(".chat-subtitle.typing:has-text('typing…')");
  check("bob typing shows 'typing…'", true);
  await page.fill("#composer-text", "See you the");
  await page.keyboard.type("re");
  const typed = await bobBot.waitFor((f) => f.event === "typing" && f.data.from === alice.user_id, 2_000).then(
    () => true,
    () => false,
  );
  check("typing in the composer sends a typing event", typed);
  const typingFrames = bobBot.frames.filter((f) => f.event === "typing").length;
  await page.keyboard.type(" soon!");
  await page.waitForTimeout(300);
  check("typing events are throttled", bobBot.frames.filter((f) => f.event === "typing").length === typingFrames);
  await shot(page, "03-direct-ticks-typing");
  await page.waitForTimeout(5_200);
  check("'typing…' clears after 5 s", (await page.locator(".chat-subtitle.typing").count()) === 0);
  await page.fill("#composer-text", "");
  bobBot.autoAck = "read";

  // 4. Group: names, the photo, group ticks from per-member receipts.
  carolBot.autoAck = "delivered";
  await rowOf(page, "Weekend trip").click();
  await page.waitForSelector(".msg .sender:has-text('carol')");
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>(".msg img.photo")].some((i) => i.complete && i.naturalWidth > 0));
  check("the group's photo loads through its download URL", true);
  await page.fill("#composer-text", "Count me in 🙌");
  await page.keyboard.press("Enter");
  const groupMine = page.locator(".msg.own", { hasText: "Count me in" });
  await groupMine.locator(".tick-delivered").waitFor();
  await page.waitForTimeout(300);
  check("group: bob read + carol delivered = two grey ticks (not blue)", (await groupMine.locator(".tick-read").count()) === 0);
  const fromCarol = carolBot.received.find((m) => m.content.includes("Count me in"))!;
  carolBot.send({ event: "ack", data: { message_id: fromCarol.message_id, status: "read", conversation_id: fromCarol.conversation_id } });
  await groupMine.locator(".tick-read").waitFor();
  check("group: blue once every member read", true);
  await shot(page, "04-group-photo");

  // 5. Scroll-back through 120 messages by cursor: no gaps, no repeats.
  await rowOf(page, "dave.k").click();
  await page.waitForSelector(".msg >> text=Dave's note number 120");
  for (let i = 0; i < 20; i++) {
    if ((await page.locator(".list-top:has-text('start of the conversation')").count()) > 0) break;
    await page.locator(".scroller").evaluate((s) => (s.scrollTop = 0));
    await page.waitForTimeout(250);
  }
  const notes = await page.$$eval(".msg .text", (els) => els.map((e) => e.textContent ?? "").filter((t) => t.startsWith("Dave's note")));
  const expected = Array.from({ length: 120 }, (_, i) => `Dave's note number ${i + 1}`);
  check("scroll-back shows all 120 messages once, in order", JSON.stringify(notes) === JSON.stringify(expected), `${notes.length} shown`);
  await page.locator(".scroller").evaluate((s) => (s.scrollTop = 0));
  await page.waitForTimeout(200);
  await shot(page, "05-scrollback-top");

  // 6. Connection lost: banner, a send waits, then replays on reconnect.
  fake.refuseConnections(true);
  fake.dropConnections(alice.user_id);
  await page.waitForSelector(".banner:not([hidden])");
  check("the 'Connecting…' banner shows", true);
  await page.fill("#composer-text", "Sent while offline");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".msg.pending >> text=Sent while offline");
  await shot(page, "06-connecting-banner");
  fake.refuseConnections(false);
  await page.waitForSelector(".banner", { state: "hidden", timeout: 40_000 });
  await page.locator(".msg.own:not(.pending)", { hasText: "Sent while offline" }).waitFor();
  const arrived = await daveBot.waitFor((f) => f.event === "new_message" && f.data.content === "Sent while offline", 5_000).then(
    () => true,
    () => false,
  );
  check("the pending send went out after the reconnect and reached dave once", arrived && daveBot.received.filter((m) => m.content === "Sent while offline").length === 1);

  // 7. Upload a photo from the page.
  await rowOf(page, "bob").click();
  await page.setInputFiles("#composer-file", { name: "lake.png", mimeType: "image/png", buffer: makePng(400, 260, 3) });
  await page.locator(".msg.own:not(.pending) img.photo").last().waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>(".msg.own img.photo")].some((i) => i.complete && i.naturalWidth > 0));
  const got = await bobBot.waitFor((f) => f.event === "new_message" && f.data.type === "image", 5_000).then(
    () => true,
    () => false,
  );
  check("an uploaded photo is sent as type image with its media_id, and shows", got);
  await page.waitForTimeout(400);
  await shot(page, "07-upload");

  // 8. A live message in another chat bumps it with a badge; a new group from the dialog.
  await carolBot.say({ to: alice.user_id }, "Did you see the forecast for Saturday?");
  await rowOf(page, "carol").locator(".badge").waitFor();
  check("a message in a chat not on screen shows an unread badge", (await rowOf(page, "carol").locator(".badge").textContent()) === "1");
  await page.click("button[aria-label='New group']");
  await page.fill("#group-name", "Book club");
  await page.fill("#group-members", "bob, carol, nobody-here");
  await page.click(".dialog button[type=submit]");
  await page.waitForSelector("#group-error:has-text('nobody-here')");
  await shot(page, "08-new-group-error");
  await page.fill("#group-members", "bob, carol");
  await page.click(".dialog button[type=submit]");
  await page.waitForSelector(".chat-title:has-text('Book club')");
  await page.waitForSelector(".list-top:has-text('No messages yet')");
  check("a new group opens, empty", true);
  await page.click("button[aria-label='New chat']");
  await page.fill("#new-chat-username", "dave.k");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".chat-title:has-text('dave.k')");
  check("starting a chat by username opens it", true);
  await rowOf(page, "bob").click();
  await page.waitForTimeout(300);
  await shot(page, "09-wide-final");
  await a.done();

  // 9. A narrow window: one pane at a time.
  const n = await browser({ width: 380, height: 760 });
  await signIn(n.page, base, "alice");
  await n.page.waitForFunction(() => document.querySelectorAll(".chat-row").length >= 4);
  await n.page.waitForTimeout(500);
  await shot(n.page, "10-narrow-inbox");
  // Carol's message reached the first session (acked delivered there) but was never read:
  // only this session's read ack, from history, can clear it.
  check("narrow: carol's unread survives a new session", (await rowOf(n.page, "carol").locator(".badge").textContent()) === "1");
  const forecast = carolBot.frames.length;
  await rowOf(n.page, "carol").click();
  const readFromHistory = await carolBot
    .waitFor((f) => f.event === "delivery_receipt" && f.data.status === "read" && carolBot.frames.indexOf(f) >= forecast, 5_000)
    .then(
      () => true,
      () => false,
    );
  check("opening it in the new session acks it read (from history)", readFromHistory);
  await n.page.click(".back");
  await n.page.waitForSelector(".sidebar");
  check("and its badge is gone", (await rowOf(n.page, "carol").locator(".badge").count()) === 0);
  await rowOf(n.page, "Weekend trip").click();
  await n.page.waitForSelector(".msg .sender:has-text('carol')");
  await n.page.waitForTimeout(500);
  check("narrow: the list hides while a chat is open", !(await n.page.locator(".sidebar").isVisible()));
  await shot(n.page, "11-narrow-chat");
  await n.page.click(".back");
  await n.page.waitForSelector(".sidebar");
  check("narrow: back returns to the list", await n.page.locator(".sidebar").isVisible());

  // 10. A revoked session returns to sign-in.
  fake.revokeSessions(alice.user_id);
  fake.dropConnections(alice.user_id);
  await n.page.waitForSelector("#auth-error:has-text('session has ended')", { timeout: 20_000 });
  check("a 401 returns to sign-in with a reason", true);
  await shot(n.page, "12-session-ended");
  await n.done();

  // 11. Sign up: a new account lands in an empty inbox.
  const s = await browser({ width: 900, height: 640 });
  await s.page.goto(base + "/");
  await s.page.fill("#auth-username", "bob");
  await s.page.fill("#auth-password", PASSWORD);
  await s.page.click("button[value=signup]");
  await s.page.waitForSelector("#auth-error:has-text('taken')");
  check("a taken username is told plainly", true);
  await s.page.fill("#auth-username", "erin");
  await s.page.click("button[value=signup]");
  await s.page.waitForSelector(".empty-note:not([hidden])");
  check("sign-up signs in and shows an empty inbox", true);
  await shot(s.page, "13-signup-empty");
  await s.done();

  bobBot.close();
  carolBot.close();
  daveBot.close();
  await fake.close();
  console.log(`${passes} passed, ${failures} failed`);
  if (failures > 0) process.exitCode = 1;
}

await main();
