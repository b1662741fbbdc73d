/**
 * Thumbnails of image media, stored beside the original as the blob `<media_id>-thumb`
 * (adapters/blob/thumbnail.ts makes them). Made once the upload is complete: at once when
 * the node itself received the bytes (the embedded folder), else on the first
 * GET /api/v1/media/{id} (S3, where the client uploads to the storage directly).
 *
 * Rules: one making per media at a time (concurrent GETs share it); a failure (corrupt or
 * oversized image) is remembered, bounded, so a bad image is not decoded on every GET; a
 * thumbnail that another node stored first is simply used. Nothing here throws to a caller.
 */
import type { BlobInfo, BlobStore } from "../../core/ports/blob-store.js";
import type { Clock } from "../../core/ports/clock.js";
import { makeThumbnail, thumbnailable, type ThumbnailError } from "../../adapters/blob/thumbnail.js";

export type ThumbnailOutcome = { ok: true; media_id: string } | { ok: false; error: ThumbnailError };

/** Failures remembered at most (then forgotten all at once: a retry costs one decode). */
const FAILURES_MAX = 10_000;

export class Thumbnails {
  private readonly making = new Map<string, Promise<ThumbnailOutcome | null>>();
  private readonly failed = new Map<string, ThumbnailError>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly clock: Clock,
    private readonly url_ttl_ms: number,
    /** Images larger than this (resumable uploads may be) are not decoded: IMAGE_TOO_LARGE. */
    private readonly bytes_max: number,
  ) {}

  static idOf(media_id: string): string {
    return `${media_id}-thumb`;
  }

  /** The thumbnail of `info`'s media, made now if need be; null when its type gets none. */
  ensure(info: BlobInfo): Promise<ThumbnailOutcome | null> {
    if (!thumbnailable(info.content_type)) return Promise.resolve(null);
    if (info.size > this.bytes_max) {
      return Promise.resolve({ ok: false, error: { code: "IMAGE_TOO_LARGE", message: `The image is ${info.size} bytes; thumbnails are made of images up to ${this.bytes_max} bytes.` } });
    }
    const known = this.failed.get(info.media_id);
    if (known !== undefined) return Promise.resolve({ ok: false, error: known });
    let running = this.making.get(info.media_id);
    if (running === undefined) {
      running = this.make(info).finally(() => this.making.delete(info.media_id));
      this.making.set(info.media_id, running);
    }
    return running;
  }

  private async make(info: BlobInfo): Promise<ThumbnailOutcome | null> {
    const id = Thumbnails.idOf(info.media_id);
    try {
      if ((await this.blobs.head(id)) !== null) return { ok: true, media_id: id };
      const bytes = await this.blobs.get(info.media_id);
      if (bytes === null) return null;
      const made = await makeThumbnail(bytes, info.content_type);
      if (!made.ok) {
        if (this.failed.size >= FAILURES_MAX) this.failed.clear();
        this.failed.set(info.media_id, made.error);
        return { ok: false, error: made.error };
      }
      await this.blobs.presignUpload({ media_id: id, content_type: made.content_type, size: made.bytes.length }, this.clock.now() + this.url_ttl_ms);
      await this.blobs.put(id, made.bytes).catch(async (error: unknown) => {
        // Stored by a concurrent maker (another node): theirs is as good as ours.
        if ((await this.blobs.head(id)) === null) throw error;
      });
      return { ok: true, media_id: id };
    } catch {
      // A storage failure: no thumbnail this time; the next GET tries again.
      return null;
    }
  }
}
