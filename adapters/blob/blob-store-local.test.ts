import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { describeBlobStoreContract, describeResumableContract } from "../contract/blob-store.contract.js";
import { BlobStoreMemory } from "../memory/blob-store-memory.js";
import { RESUMABLE_PART_BYTES_MIN } from "../../core/ports/blob-store.js";
import { BlobStoreLocal } from "./blob-store-local.js";

const SECRET = "0123456789abcdef0123456789abcdef-test-secret";
const BASE_URL = "http://127.0.0.1:8080";
const NOW_MS = 1_750_000_000_000;
const TTL_MS = 15 * 60 * 1000;

const tempDirectory = (): Promise<string> => mkdtemp(join(tmpdir(), "blob-store-local-"));

describeBlobStoreContract("BlobStoreLocal", async () => {
  const directory = await tempDirectory();
  return {
    blobs: new BlobStoreLocal(directory, BASE_URL, SECRET),
    signature_param: "sig",
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
});

describeResumableContract("BlobStoreLocal", async () => {
  const directory = await tempDirectory();
  return { blobs: new BlobStoreLocal(directory, BASE_URL, SECRET, { sync: false }), cleanup: () => rm(directory, { recursive: true, force: true }) };
});

describe("BlobStoreLocal", () => {
  let directory = "";
  beforeEach(async () => {
    directory = await tempDirectory();
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const info = { media_id: "med_abc", content_type: "image/png", size: 3 };

  it("builds URLs of the memory store's form, so one host route serves both", async () => {
    const local = new BlobStoreLocal(directory, `${BASE_URL}/`, SECRET);
    const memory = new BlobStoreMemory(BASE_URL, SECRET);
    expect(await local.presignUpload(info, 1_000)).toMatch(/^http:\/\/127\.0\.0\.1:8080\/media\/med_abc\/upload\?expires=1000&sig=[0-9a-f]{64}$/);
    // Downloads are signed exactly alike; uploads also bind the declaration, so they differ.
    expect(await local.presignDownload("med_abc", 2_000)).toBe(await memory.presignDownload("med_abc", 2_000));
  });

  it("keeps bytes, metadata, declarations and URLs across a new instance on the same folder", async () => {
    const first = new BlobStoreLocal(directory, BASE_URL, SECRET);
    const stored = { media_id: "med_stored", content_type: "application/pdf", size: 4 };
    await first.presignUpload(stored, NOW_MS + TTL_MS);
    await first.put(stored.media_id, new Uint8Array([1, 2, 3, 4]));
    const waiting = { media_id: "med_waiting", content_type: "image/jpeg", size: 10 };
    const upload = await first.presignUpload(waiting, NOW_MS + TTL_MS);
    const download = await first.presignDownload(stored.media_id, NOW_MS + TTL_MS);

    const second = new BlobStoreLocal(directory, BASE_URL, SECRET);
    expect(await second.head(stored.media_id)).toEqual(stored);
    expect(Array.from((await second.get(stored.media_id)) ?? [])).toEqual([1, 2, 3, 4]);
    expect(await second.verify("download", download, NOW_MS)).toBe(stored.media_id);
    expect(await second.verify("upload", upload, NOW_MS)).toBe(waiting.media_id);
    await expect(second.put(waiting.media_id, new Uint8Array(11))).rejects.toThrow(/exceed the declared size 10/);
    await second.put(waiting.media_id, new Uint8Array([7, 7]));
    expect(await second.head(waiting.media_id)).toEqual({ ...waiting, size: 2 });
    await expect(second.put(stored.media_id, new Uint8Array([1]))).rejects.toThrow(/already stored/);
  });

  it("accepts one put of at most the declared size, of a declared media_id only", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    await expect(blobs.put("med_abc", new Uint8Array([1]))).rejects.toThrow(/no declared upload/);
    await blobs.presignUpload(info, NOW_MS + TTL_MS);
    await expect(blobs.put("med_abc", new Uint8Array(4))).rejects.toThrow(/exceed the declared size 3/);
    await blobs.put("med_abc", new Uint8Array([1, 2]));
    await expect(blobs.put("med_abc", new Uint8Array([1]))).rejects.toThrow(/already stored/);
    expect(await blobs.head("med_abc")).toEqual({ media_id: "med_abc", content_type: "image/png", size: 2 });
  });

  it("rejects a second upload racing the first", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    await blobs.presignUpload(info, NOW_MS + TTL_MS);
    const results = await Promise.allSettled([blobs.put("med_abc", new Uint8Array([1])), blobs.put("med_abc", new Uint8Array([2, 2]))]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const winner = results[0]?.status === "fulfilled" ? [1] : [2, 2];
    expect(Array.from((await blobs.get("med_abc")) ?? [])).toEqual(winner);
  });

  it("binds an upload URL to its declaration: a changed size or content type voids it", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    const url = await blobs.presignUpload(info, NOW_MS + TTL_MS);
    expect(await blobs.verify("upload", url, NOW_MS)).toBe("med_abc");
    await blobs.presignUpload({ ...info, size: 1_000_000 }, NOW_MS + TTL_MS);
    expect(await blobs.verify("upload", url, NOW_MS)).toBeNull();
    await blobs.presignUpload({ ...info, content_type: "text/html" }, NOW_MS + TTL_MS);
    expect(await blobs.verify("upload", url, NOW_MS)).toBeNull();
    await blobs.presignUpload(info, NOW_MS + TTL_MS);
    expect(await blobs.verify("upload", url, NOW_MS)).toBe("med_abc");
  });

  it("refuses URLs signed with another secret, and the memory store's upload URLs", async () => {
    const mine = new BlobStoreLocal(directory, BASE_URL, SECRET);
    const theirs = new BlobStoreLocal(directory, BASE_URL, `${SECRET}-other`);
    expect(await mine.verify("download", await theirs.presignDownload("med_abc", NOW_MS + TTL_MS), NOW_MS)).toBeNull();
    await mine.presignUpload(info, NOW_MS + TTL_MS);
    const memory = new BlobStoreMemory(BASE_URL, SECRET);
    expect(await mine.verify("upload", await memory.presignUpload(info, NOW_MS + TTL_MS), NOW_MS)).toBeNull();
  });

  it("answers null, never throws, for media_ids that cannot name a file", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    for (const id of ["../etc/passwd", "a/b", "", ".", "x".repeat(129)]) {
      expect(await blobs.head(id)).toBeNull();
      expect(await blobs.get(id)).toBeNull();
      await expect(blobs.put(id, new Uint8Array([1]))).rejects.toThrow(/not a media_id/);
    }
    expect(await blobs.verify("download", `${BASE_URL}/media/..%2F..%2Fetc/download?expires=1&sig=${"0".repeat(64)}`, 0)).toBeNull();
    await expect(blobs.presignDownload("../x", NOW_MS)).rejects.toThrow(/media_id must match/);
  });

  it("writes through temporary files and leaves none behind", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    await blobs.presignUpload(info, NOW_MS + TTL_MS);
    await blobs.put("med_abc", new Uint8Array([1, 2, 3]));
    expect((await readdir(directory)).sort()).toEqual(["med_abc.bin", "med_abc.json"]);
  });

  it("treats bytes without their commit marker (a crash mid-put) as absent, and overwrites them", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    await blobs.presignUpload(info, NOW_MS + TTL_MS);
    await writeFile(join(directory, "med_abc.bin"), new Uint8Array([9, 9, 9]));
    expect(await blobs.head("med_abc")).toBeNull();
    expect(await blobs.get("med_abc")).toBeNull();
    await blobs.put("med_abc", new Uint8Array([4]));
    expect(Array.from((await blobs.get("med_abc")) ?? [])).toEqual([4]);
  });

  it("sweeps expired declarations and stale temporary files, and nothing else", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    await blobs.presignUpload({ ...info, media_id: "med_old" }, NOW_MS - 1);
    await blobs.presignUpload({ ...info, media_id: "med_live" }, NOW_MS + TTL_MS);
    await blobs.presignUpload({ ...info, media_id: "med_done" }, NOW_MS - 1);
    await blobs.put("med_done", new Uint8Array([1]));
    const stale = join(directory, ".med_x.bin.0000.tmp");
    const fresh = join(directory, ".med_y.bin.0000.tmp");
    await writeFile(stale, "x");
    await writeFile(fresh, "y");
    const hour_ago = new Date(NOW_MS - 2 * 60 * 60 * 1000);
    await utimes(stale, hour_ago, hour_ago);
    await utimes(fresh, new Date(NOW_MS), new Date(NOW_MS));
    expect(await blobs.sweep(NOW_MS)).toBe(2);
    expect((await readdir(directory)).sort()).toEqual([".med_y.bin.0000.tmp", "med_done.bin", "med_done.json", "med_live.upload.json"]);
  });

  it("keeps the latest expiry when the same upload is declared again", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET);
    const late = await blobs.presignUpload(info, NOW_MS + TTL_MS);
    await blobs.presignUpload(info, NOW_MS + 1);
    await blobs.sweep(NOW_MS + 2);
    expect(await blobs.verify("upload", late, NOW_MS + 2)).toBe("med_abc");
  });

  it("signs each part URL for its own part of its own upload, until the upload expires", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET, { sync: false });
    const size = RESUMABLE_PART_BYTES_MIN * 2 + 7;
    await blobs.startResumable({ media_id: "med_big", content_type: "video/mp4", size }, NOW_MS + TTL_MS);
    const two = (await blobs.presignPart("med_big", 2, NOW_MS + 10 * TTL_MS))!;
    // Capped at the upload's own expiry, however long the caller asked for.
    expect(two).toMatch(new RegExp(`^${BASE_URL}/media/med_big/parts/2\\?expires=${NOW_MS + TTL_MS}&sig=[0-9a-f]{64}$`));
    expect(await blobs.verifyPart(two, NOW_MS)).toEqual({ media_id: "med_big", part_number: 2, size: RESUMABLE_PART_BYTES_MIN });
    expect(await blobs.verifyPart((await blobs.presignPart("med_big", 3, NOW_MS + TTL_MS))!, NOW_MS)).toEqual({ media_id: "med_big", part_number: 3, size: 7 });
    expect(await blobs.verifyPart(two, NOW_MS + TTL_MS)).toBeNull();
    expect(await blobs.verifyPart(two.replace("/parts/2?", "/parts/1?"), NOW_MS)).toBeNull();
    expect(await blobs.verifyPart(two.replace("med_big", "med_bih"), NOW_MS)).toBeNull();
    expect(await blobs.verify("upload", two, NOW_MS)).toBeNull();
    // Neither a part URL of another secret nor a whole-upload URL for the same media.
    expect(await new BlobStoreLocal(directory, BASE_URL, `${SECRET}-other`).verifyPart(two, NOW_MS)).toBeNull();
    expect(await blobs.verifyPart(await blobs.presignDownload("med_big", NOW_MS + TTL_MS), NOW_MS)).toBeNull();
    // Once aborted, its URLs are void.
    await blobs.abortResumable("med_big");
    expect(await blobs.verifyPart(two, NOW_MS)).toBeNull();
  });

  it("sweeps expired resumable uploads with their parts, and parts whose upload is gone", async () => {
    const blobs = new BlobStoreLocal(directory, BASE_URL, SECRET, { sync: false });
    const size = RESUMABLE_PART_BYTES_MIN + 1;
    await blobs.startResumable({ media_id: "med_gone", content_type: "video/mp4", size }, NOW_MS - 1);
    await blobs.putPart("med_gone", 2, new Uint8Array([1]));
    await blobs.startResumable({ media_id: "med_live", content_type: "video/mp4", size }, NOW_MS + TTL_MS);
    await blobs.putPart("med_live", 2, new Uint8Array([1]));
    const orphan = join(directory, "med_crash.part-1");
    await writeFile(orphan, "x");
    const hour_ago = new Date(NOW_MS - 2 * 60 * 60 * 1000);
    await utimes(orphan, hour_ago, hour_ago);
    expect(await blobs.sweep(NOW_MS)).toBe(2);
    expect((await readdir(directory)).sort()).toEqual(["med_live.part-2", "med_live.upload.json"]);
  });

  it("rejects a short secret at construction", () => {
    expect(() => new BlobStoreLocal(directory, BASE_URL, "short")).toThrow(/32 bytes/);
  });
});
