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
  head(media_id: string): Promise<BlobInfo | null>;
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
