/**
 * Thumbnails: an image larger than a single upload (a resumable one may be 512 MiB) is never
 * read into memory to be decoded; it gets IMAGE_TOO_LARGE, and the original stays.
 */
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ClockManual } from "../../adapters/memory/clock-memory.js";
import { BlobStoreMemory } from "../../adapters/memory/blob-store-memory.js";
import { Thumbnails } from "./thumbnails.js";

const SECRET = "0123456789abcdef0123456789abcdef-test-secret";

describe("Thumbnails", () => {
  it("makes one of an image within the bound, and refuses one above it without reading it", async () => {
    const blobs = new BlobStoreMemory("http://127.0.0.1", SECRET);
    const png = await sharp({ create: { width: 40, height: 20, channels: 3, background: "#336699" } }).png().toBuffer();
    for (const media_id of ["m_small", "m_big"]) {
      await blobs.presignUpload({ media_id, content_type: "image/png", size: png.length }, 1_000_000);
      await blobs.put(media_id, png);
    }
    let reads = 0;
    const counted = Object.assign(Object.create(blobs) as BlobStoreMemory, {
      get: async (id: string) => {
        reads += 1;
        return blobs.get(id);
      },
    });
    const thumbnails = new Thumbnails(counted, new ClockManual(0), 60_000, png.length);
    expect(await thumbnails.ensure({ media_id: "m_small", content_type: "image/png", size: png.length })).toEqual({ ok: true, media_id: "m_small-thumb" });
    expect(reads).toBe(1);
    const big = await thumbnails.ensure({ media_id: "m_big", content_type: "image/png", size: png.length + 1 });
    expect(big).toMatchObject({ ok: false, error: { code: "IMAGE_TOO_LARGE" } });
    expect(reads).toBe(1);
    expect(await blobs.head("m_big-thumb")).toBeNull();
  });
});
