/**
 * BlobStoreMemory: media bytes in process behind pre-signed, expiring URLs (tests, the
 * simulator; the embedded node serves the same URL form from a folder, BlobStoreLocal).
 *
 * URL form and signature: adapters/blob/signing.ts (`${base_url}/media/${media_id}/upload?
 * expires=<unix ms>&sig=<hex>`, HMAC-SHA256 over the action, the media_id and the expiry).
 *
 * Rules:
 * - verify answers the media_id a URL grants for `action` while now_ms < expires, else null;
 *   it never throws on a malformed URL (URLs come from clients) and compares signatures in
 *   constant time. The origin and any path before `/media/` are not signed, so the host may
 *   pass the request path alone.
 * - presignUpload remembers the declared content_type and size; put then accepts exactly one
 *   write of at most that many bytes (it rejects a second write or a larger one), which is
 *   what "the URL accepts exactly one PUT" means when the host serves it. At most
 *   `declared_uploads_max` declarations wait for their bytes; the oldest are dropped first.
 * - head describes what is stored: the declared content_type and the stored byte count.
 */
import type { BlobInfo, BlobStore, SignedAction } from "../../core/ports/blob-store.js";
import { assert } from "../../core/result.js";
import { MediaUrlSigner } from "../blob/signing.js";

export type BlobStoreMemoryOptions = { readonly declared_uploads_max?: number };

const DECLARED_UPLOADS_MAX_DEFAULT = 10_000;
const CONTENT_TYPE_UNDECLARED = "application/octet-stream";

type Stored = { readonly info: BlobInfo; readonly bytes: Uint8Array };

export class BlobStoreMemory implements BlobStore {
  private readonly signer: MediaUrlSigner;
  private readonly declared_uploads_max: number;
  private readonly declared = new Map<string, BlobInfo>();
  private readonly stored = new Map<string, Stored>();

  /** `base_url` without a trailing slash, e.g. `http://127.0.0.1:8080`; `secret` at least 32 bytes. */
  constructor(base_url: string, secret: string | Uint8Array, options: BlobStoreMemoryOptions = {}) {
    this.signer = new MediaUrlSigner("BlobStoreMemory", base_url, secret);
    this.declared_uploads_max = options.declared_uploads_max ?? DECLARED_UPLOADS_MAX_DEFAULT;
    assert(Number.isInteger(this.declared_uploads_max) && this.declared_uploads_max > 0, "BlobStoreMemory: declared_uploads_max must be a positive integer");
  }

  async presignUpload(info: BlobInfo, expires_at_ms: number): Promise<string> {
    assert(Number.isInteger(info.size) && info.size >= 0, `BlobStoreMemory.presignUpload: size must be a non-negative integer, got ${info.size}`);
    this.declared.delete(info.media_id);
    this.declared.set(info.media_id, { ...info });
    while (this.declared.size > this.declared_uploads_max) {
      const oldest = this.declared.keys().next();
      if (oldest.done === true) break;
      this.declared.delete(oldest.value);
    }
    return this.url("upload", info.media_id, expires_at_ms);
  }

  async presignDownload(media_id: string, expires_at_ms: number): Promise<string> {
    return this.url("download", media_id, expires_at_ms);
  }

  async verify(action: SignedAction, url: string, now_ms: number): Promise<string | null> {
    const claim = this.signer.parse(url);
    return claim === null ? null : this.signer.check(claim, action, now_ms);
  }

  async uploadSize(media_id: string): Promise<number | null> {
    if (this.stored.has(media_id)) return null;
    return this.declared.get(media_id)?.size ?? null;
  }

  async put(media_id: string, bytes: Uint8Array): Promise<void> {
    if (this.stored.has(media_id)) {
      throw new Error(`BlobStoreMemory.put: media '${media_id}' is already stored; an upload URL accepts one PUT`);
    }
    const declared = this.declared.get(media_id);
    if (declared !== undefined && bytes.length > declared.size) {
      throw new Error(`BlobStoreMemory.put: ${bytes.length} bytes exceed the declared size ${declared.size} of media '${media_id}'`);
    }
    const content_type = declared?.content_type ?? CONTENT_TYPE_UNDECLARED;
    this.declared.delete(media_id);
    this.stored.set(media_id, { info: { media_id, content_type, size: bytes.length }, bytes: Uint8Array.from(bytes) });
  }

  async get(media_id: string): Promise<Uint8Array | null> {
    const item = this.stored.get(media_id);
    return item === undefined ? null : Uint8Array.from(item.bytes);
  }

  async read(media_id: string): Promise<AsyncIterable<Uint8Array> | null> {
    const bytes = await this.get(media_id);
    return bytes === null ? null : (async function* () {
      yield bytes;
    })();
  }

  async head(media_id: string): Promise<BlobInfo | null> {
    const item = this.stored.get(media_id);
    return item === undefined ? null : { ...item.info };
  }

  private url(action: SignedAction, media_id: string, expires_at_ms: number): string {
    return this.signer.url(action, media_id, expires_at_ms);
  }
}
