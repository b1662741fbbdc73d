/**
 * BlobStore: media bytes behind pre-signed, expiring URLs (a local folder embedded; S3-
 * compatible storage in production).
 *
 * Contract (adapters/contract/blob-store.contract.ts checks it):
 * - presignUpload answers a URL that accepts exactly one PUT of at most `size` bytes of
 *   `content_type` until `expires_at_ms`; presignDownload a URL that serves the bytes until
 *   its expiry. Signatures cannot be forged or moved to another media_id.
 * - verify checks a URL's signature and expiry at `now_ms` (the host that serves the URLs
 *   calls it); put stores the bytes, head describes what is stored.
 */
export type BlobInfo = { readonly media_id: string; readonly content_type: string; readonly size: number };
export type SignedAction = "upload" | "download";

export interface BlobStore {
  presignUpload(info: BlobInfo, expires_at_ms: number): Promise<string>;
  presignDownload(media_id: string, expires_at_ms: number): Promise<string>;
  /** Checks the signed query of a URL; answers the media_id it grants, or null. */
  verify(action: SignedAction, url: string, now_ms: number): Promise<string | null>;
  /**
   * The declared size of an upload not yet stored, or null when there is none: the host reads
   * at most this many bytes of a PUT body (and refuses a larger Content-Length unread).
   */
  uploadSize(media_id: string): Promise<number | null>;
  put(media_id: string, bytes: Uint8Array): Promise<void>;
  get(media_id: string): Promise<Uint8Array | null>;
  /**
   * The stored bytes a chunk at a time (null when there are none): what a host serving a
   * download sends, so a large media is never held in memory whole.
   */
  read(media_id: string): Promise<AsyncIterable<Uint8Array> | null>;
  head(media_id: string): Promise<BlobInfo | null>;
}

/**
 * Resumable uploads: a large file goes up in parts, each PUT to its own pre-signed URL, in any
 * order and any part again, so an upload cut off halfway resumes where it stopped (S3
 * multipart in production, part files in the embedded node's folder; docs/API.md "Resumable
 * uploads"). Every store plans parts alike (`resumablePlan`), so a client sees the same
 * `part_bytes` in both worlds.
 *
 * Contract (adapters/contract/blob-store.contract.ts, describeResumableContract):
 * - startResumable declares the upload; `resumable` describes it (with the parts stored
 *   whole so far) until it is completed or aborted, whatever its expiry: the caller compares
 *   `expires_at_ms` with its clock.
 * - presignPart answers a URL that accepts one part's exact length, until the earlier of its
 *   own expiry and the upload's; null for a part that does not exist or an upload that does
 *   not. putPart stores a part (the host calls it for URLs it serves; S3 is PUT directly) and
 *   refuses a body of another length.
 * - completeResumable joins the parts into the media (then head, get and presignDownload work
 *   as for any media) and forgets the upload; null, changing nothing, while a part is missing.
 * - abortResumable and abortExpired (uploads whose expiry is at or before now_ms) delete the
 *   upload and every part of it.
 */
export type ResumableUpload = BlobInfo & {
  readonly part_bytes: number;
  readonly parts: number;
  readonly expires_at_ms: number;
  /** Parts stored whole so far, 1-based, ascending. */
  readonly uploaded: readonly number[];
};

/** What a part URL a store serves itself grants: one part's bytes, of exactly `size`. */
export type PartGrant = { readonly media_id: string; readonly part_number: number; readonly size: number };

export interface ResumableUploads {
  startResumable(info: BlobInfo, expires_at_ms: number): Promise<ResumableUpload>;
  resumable(media_id: string): Promise<ResumableUpload | null>;
  presignPart(media_id: string, part_number: number, expires_at_ms: number): Promise<string | null>;
  /** Checks a part URL this store serves (the host's PUT route); null for anything else. */
  verifyPart(url: string, now_ms: number): Promise<PartGrant | null>;
  putPart(media_id: string, part_number: number, bytes: Uint8Array): Promise<void>;
  completeResumable(media_id: string): Promise<BlobInfo | null>;
  abortResumable(media_id: string): Promise<boolean>;
  abortExpired(now_ms: number): Promise<number>;
}

/** S3's bounds, which every store keeps: parts of at least 5 MiB but the last, at most 10,000. */
export const RESUMABLE_PART_BYTES_MIN = 5 * 1024 * 1024;
export const RESUMABLE_PARTS_MAX = 10_000;

/** How a `size`-byte upload is cut: parts of `part_bytes`, the last one shorter. */
export function resumablePlan(size: number): { part_bytes: number; parts: number } {
  const part_bytes = Math.max(RESUMABLE_PART_BYTES_MIN, Math.ceil(size / RESUMABLE_PARTS_MAX));
  return { part_bytes, parts: Math.ceil(size / part_bytes) };
}

/** The exact length of part `n` (1-based) of a `size`-byte upload; null when there is no such part. */
export function resumablePartLength(size: number, part_bytes: number, n: number): number | null {
  const count = Math.ceil(size / part_bytes);
  if (!Number.isInteger(n) || n < 1 || n > count) return null;
  return n < count ? part_bytes : size - (count - 1) * part_bytes;
}

/**
 * MediaOwnership: whether a media_id names an uploaded media of a user, the rule for the
 * content of image and file messages (docs/API.md; UNKNOWN_MEDIA otherwise). The gateway asks
 * it before a media send reaches the log. It answers false, never throws, for an ID a client
 * made up; it rejects only when it cannot tell (a store down).
 */
export interface MediaOwnership {
  isUploadedBy(media_id: string, user_id: string): Promise<boolean>;
}
