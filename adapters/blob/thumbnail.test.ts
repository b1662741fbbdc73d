import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { THUMBNAIL_EDGE_PX, makeThumbnail } from "./thumbnail.js";

/** A real PNG (IHDR, IDAT, IEND with CRCs) of a gradient, `width` x `height`. */
function png(width: number, height: number, declared?: { width: number; height: number }): Buffer {
  const raw = Buffer.alloc((1 + width * 3) * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set([x % 256, y % 256, 128], y * (1 + width * 3) + 1 + x * 3);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(declared?.width ?? width, 0);
  header.writeUInt32BE(declared?.height ?? height, 4);
  header[8] = 8;
  header[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  let c = 0xffffffff;
  for (const byte of body) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0, 8 + data.length);
  return out;
}

describe("makeThumbnail", () => {
  it("makes a JPEG at most 320 px on its longer side from a real PNG, keeping the aspect ratio", async () => {
    const result = await makeThumbnail(png(800, 400), "image/png");
    if (!result.ok) throw new Error(result.error.message);
    expect([result.width, result.height]).toEqual([THUMBNAIL_EDGE_PX, 160]);
    expect(result.content_type).toBe("image/jpeg");
    const meta = await sharp(result.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 320, 160]);
  });

  it("makes one from a real JPEG (made by libjpeg), applying EXIF orientation, and never enlarges", async () => {
    const jpeg = await sharp(png(300, 600)).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).format).toBe("jpeg");
    const result = await makeThumbnail(jpeg, "image/jpeg");
    if (!result.ok) throw new Error(result.error.message);
    // Orientation 6 turns the 300 x 600 portrait on its side.
    expect([result.width, result.height]).toEqual([320, 160]);
    const small = await makeThumbnail(png(100, 50), "image/png");
    expect(small.ok && [small.width, small.height]).toEqual([100, 50]);
  });

  it("answers a clear error, never a throw, for corrupt, truncated, oversized and unsupported input", async () => {
    const cases: [Uint8Array, string, string][] = [
      [Buffer.from("not an image at all"), "image/png", "IMAGE_UNREADABLE"],
      [png(200, 200).subarray(0, 60), "image/png", "IMAGE_UNREADABLE"],
      [Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 2, 3]), "image/jpeg", "IMAGE_UNREADABLE"],
      // A few hundred bytes that declare 20,000 x 20,000 pixels: refused before decoding.
      [png(8, 8, { width: 20_000, height: 20_000 }), "image/png", "IMAGE_TOO_LARGE"],
      [png(8, 8), "application/pdf", "IMAGE_UNSUPPORTED"],
    ];
    for (const [bytes, type, code] of cases) {
      const result = await makeThumbnail(bytes, type);
      expect(result.ok, code).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe(code);
        expect(result.error.message.length).toBeGreaterThan(10);
      }
    }
  });
});
