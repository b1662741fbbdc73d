/**
 * Thumbnails of uploaded images, with sharp (libvips): a JPEG of at most THUMBNAIL_EDGE_PX
 * on its longer side, EXIF orientation applied, metadata dropped.
 *
 * Rules:
 * - Input is untrusted: it is decoded with a pixel limit (a 20,000 x 20,000 "PNG" of a few
 *   bytes must not allocate gigabytes) and libvips' fail-on-error, so a corrupt or oversized
 *   image answers a result with a stable code and a sentence, never a throw and never a crash.
 * - Only the formats a chat image is sent in are read (JPEG, PNG, WebP, GIF); anything else is
 *   refused before decoding.
 */
import sharp from "sharp";

export const THUMBNAIL_EDGE_PX = 320;
/** Decoded pixels at most (about 40 megapixels: a large phone photo is 12 to 50). */
export const THUMBNAIL_INPUT_PIXELS_MAX = 50_000_000;
export const THUMBNAIL_CONTENT_TYPE = "image/jpeg";
const READABLE = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);

export type ThumbnailError = { readonly code: "IMAGE_UNSUPPORTED" | "IMAGE_TOO_LARGE" | "IMAGE_UNREADABLE"; readonly message: string };
export type ThumbnailResult = { ok: true; bytes: Uint8Array; content_type: string; width: number; height: number } | { ok: false; error: ThumbnailError };

/** Whether a thumbnail is attempted for media of this content type. */
export function thumbnailable(content_type: string): boolean {
  return READABLE.has(content_type.toLowerCase());
}

export async function makeThumbnail(bytes: Uint8Array, content_type: string, pixels_max = THUMBNAIL_INPUT_PIXELS_MAX): Promise<ThumbnailResult> {
  if (!thumbnailable(content_type)) return { ok: false, error: { code: "IMAGE_UNSUPPORTED", message: `No thumbnail is made for ${content_type}; only JPEG, PNG, WebP and GIF images get one.` } };
  try {
    const image = sharp(bytes, { limitInputPixels: pixels_max, failOn: "error", animated: false });
    const meta = await image.metadata();
    if (meta.width === undefined || meta.height === undefined) return { ok: false, error: { code: "IMAGE_UNREADABLE", message: "The image has no dimensions; it is not a readable image." } };
    if (meta.width * meta.height > pixels_max) {
      return { ok: false, error: { code: "IMAGE_TOO_LARGE", message: `The image is ${meta.width} x ${meta.height} pixels; thumbnails are made of images up to ${pixels_max} pixels.` } };
    }
    const { data, info } = await image
      .rotate()
      .resize(THUMBNAIL_EDGE_PX, THUMBNAIL_EDGE_PX, { fit: "inside", withoutEnlargement: true })
      .jpeg({ quality: 75, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
    return { ok: true, bytes: new Uint8Array(data.buffer, data.byteOffset, data.length), content_type: THUMBNAIL_CONTENT_TYPE, width: info.width, height: info.height };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(why)) return { ok: false, error: { code: "IMAGE_TOO_LARGE", message: `The image has more than ${pixels_max} pixels; no thumbnail is made of it.` } };
    return { ok: false, error: { code: "IMAGE_UNREADABLE", message: `The image could not be read: ${why.split("\n")[0]}` } };
  }
}
