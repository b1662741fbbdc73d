/**
 * BlobStoreS3: media on S3-compatible storage (AWS S3, MinIO, s3proxy, ...) behind
 * pre-signed SigV4 URLs, for production: clients PUT and GET the bytes at the storage
 * itself, never through a node.
 *
 * Layout of the bucket, under `prefix`:
 *   `<media_id>`                the bytes, with the declared Content-Type
 *   `uploads/<media_id>.json`   the declaration {media_id, content_type, size, expires_at_ms}
 *                               presignUpload wrote (for put(), and for an operator's
 *                               lifecycle rule to expire)
 *
 * Rules:
 * - Upload URLs sign the PUT's Content-Type and Content-Length: the storage refuses a body of
 *   another size or type (the declared size exactly; the API declares the file's size). Two
 *   things a pre-signed PUT cannot enforce are left to the storage's lifecycle: a second PUT
 *   before expiry overwrites (S3 keys are last-writer-wins), and an abandoned declaration
 *   stays until a rule expires `uploads/`.
 * - An URL expires at `expires_at_ms` to the second: X-Amz-Date is the clock's now, and
 *   X-Amz-Expires the whole seconds left (1 s to 7 days, what SigV4 allows).
 * - verify recomputes the signature of a URL (same date, expiry, key and signed headers) and
 *   compares it in constant time: what the storage does, so the contract suite can check our
 *   URLs without a server, and a node can tell its own URLs from forged ones.
 * - get, head and verify answer null, never throw, for a media_id a client made up.
 */
import { timingSafeEqual } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  UploadPartCommand,
  type Part,
} from "@aws-sdk/client-s3";
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  RESUMABLE_PART_BYTES_MIN,
  resumablePartLength,
  resumablePlan,
  type BlobInfo,
  type BlobStore,
  type PartGrant,
  type ResumableUpload,
  type ResumableUploads,
  type SignedAction,
} from "../../core/ports/blob-store.js";
import type { Clock } from "../../core/ports/clock.js";
import { assert } from "../../core/result.js";

export type BlobStoreS3Options = {
  /** e.g. http://127.0.0.1:9100 for s3proxy; omit for AWS (the region's endpoint). */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly access_key_id: string;
  readonly secret_access_key: string;
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`), as s3proxy and MinIO want. */
  readonly force_path_style?: boolean;
  /** Key prefix of this deployment's media, e.g. `media/` (default none). */
  readonly prefix?: string;
  /** Signing time; URLs expire by it. */
  readonly clock: Clock;
};

const MEDIA_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const EXPIRES_S_MAX = 7 * 24 * 60 * 60;
const DECLARATIONS = "uploads/";
/** A declaration is a few hundred bytes; anything larger is not ours. */
const DECLARATION_BYTES_MAX = 64 * 1024;

type Declaration = BlobInfo & { readonly expires_at_ms: number; readonly upload_id?: string; readonly part_bytes?: number };

type ResumableDeclaration = Declaration & { readonly upload_id: string; readonly part_bytes: number };

/** S3's smallest part but the last (core/ports/blob-store.ts plans parts for every store). */
export const PART_BYTES_MIN = RESUMABLE_PART_BYTES_MIN;
const partLength = resumablePartLength;

export class BlobStoreS3 implements BlobStore, ResumableUploads {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly clock: Clock;

  constructor(options: BlobStoreS3Options) {
    assert(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket), `BlobStoreS3: bucket must be an S3 bucket name, got '${options.bucket}'`);
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.force_path_style ?? false,
      credentials: { accessKeyId: options.access_key_id, secretAccessKey: options.secret_access_key },
      // Checksums on every PUT would put a header into pre-signed URLs that browsers do not send.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "";
    this.clock = options.clock;
  }

  async presignUpload(info: BlobInfo, expires_at_ms: number): Promise<string> {
    assert(MEDIA_ID_PATTERN.test(info.media_id), `BlobStoreS3.presignUpload: media_id must match ${MEDIA_ID_PATTERN}, got '${info.media_id}'`);
    assert(Number.isSafeInteger(info.size) && info.size >= 0, `BlobStoreS3.presignUpload: size must be a non-negative integer, got ${info.size}`);
    const declaration: Declaration = { media_id: info.media_id, content_type: info.content_type, size: info.size, expires_at_ms };
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(info.media_id), Body: JSON.stringify(declaration), ContentType: "application/json" }),
    );
    return this.sign("upload", info.media_id, expires_at_ms, info);
  }

  async presignDownload(media_id: string, expires_at_ms: number): Promise<string> {
    assert(MEDIA_ID_PATTERN.test(media_id), `BlobStoreS3.presignDownload: media_id must match ${MEDIA_ID_PATTERN}, got '${media_id}'`);
    return this.sign("download", media_id, expires_at_ms, null);
  }

  async verify(action: SignedAction, url: string, now_ms: number): Promise<string | null> {
    const claim = this.parse(url);
    if (claim === null) return null;
    if (now_ms >= claim.expires_at_ms) return null;
    let binding: Pick<BlobInfo, "content_type" | "size"> | null = null;
    if (action === "upload") {
      const declared = await this.declaration(claim.media_id);
      if (declared === null) return null;
      binding = declared;
    }
    let expected: string;
    try {
      expected = await this.sign(action, claim.media_id, claim.expires_at_ms, binding, claim.signed_at_ms);
    } catch {
      return null;
    }
    const want = new URL(expected);
    const got = new URL(url);
    if (want.origin !== got.origin || want.pathname !== got.pathname) return null;
    const names = new Set([...want.searchParams.keys(), ...got.searchParams.keys()]);
    for (const name of names) {
      const a = Buffer.from(want.searchParams.get(name) ?? "\u0000missing");
      const b = Buffer.from(got.searchParams.get(name) ?? "\u0000absent");
      if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    }
    return claim.media_id;
  }

  async uploadSize(media_id: string): Promise<number | null> {
    if (!MEDIA_ID_PATTERN.test(media_id) || (await this.head(media_id)) !== null) return null;
    const declared = await this.declaration(media_id);
    // A resumable upload goes up in parts only.
    return declared === null || declared.upload_id !== undefined ? null : declared.size;
  }

  async put(media_id: string, bytes: Uint8Array): Promise<void> {
    if (!MEDIA_ID_PATTERN.test(media_id)) throw new Error(`BlobStoreS3.put: '${media_id}' is not a media_id this store names objects after`);
    const declared = await this.declaration(media_id);
    if (declared === null || declared.upload_id !== undefined) throw new Error(`BlobStoreS3.put: media '${media_id}' has no declared upload (presignUpload first; a resumable upload goes up in parts)`);
    if (bytes.length > declared.size) throw new Error(`BlobStoreS3.put: ${bytes.length} bytes exceed the declared size ${declared.size} of media '${media_id}'`);
    if ((await this.head(media_id)) !== null) throw new Error(`BlobStoreS3.put: media '${media_id}' is already stored; an upload URL accepts one PUT`);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(media_id), Body: bytes, ContentType: declared.content_type, ContentLength: bytes.length }));
  }

  async get(media_id: string): Promise<Uint8Array | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(media_id) }));
      return answer.Body === undefined ? new Uint8Array(0) : await answer.Body.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async read(media_id: string): Promise<AsyncIterable<Uint8Array> | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(media_id) }));
      if (answer.Body === undefined) return (async function* () {})();
      return answer.Body as unknown as AsyncIterable<Uint8Array>;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async head(media_id: string): Promise<BlobInfo | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(media_id) }));
      return { media_id, content_type: answer.ContentType ?? "application/octet-stream", size: answer.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  // ---- resumable uploads (S3 multipart with pre-signed part URLs) ------------------------

  /**
   * Starts a resumable upload of `info`: the bytes go up in `parts` parts of `part_bytes`
   * (the last one shorter), each PUT to its own pre-signed URL (presignPart), in any order,
   * any part again after an interruption; uploadedParts tells a client where to resume;
   * completeResumable joins them. The declaration records the multipart upload's ID.
   */
  async startResumable(info: BlobInfo, expires_at_ms: number): Promise<ResumableUpload> {
    assert(MEDIA_ID_PATTERN.test(info.media_id), `BlobStoreS3.startResumable: media_id must match ${MEDIA_ID_PATTERN}, got '${info.media_id}'`);
    assert(Number.isSafeInteger(info.size) && info.size >= 1, `BlobStoreS3.startResumable: size must be a positive integer, got ${info.size}`);
    const { part_bytes, parts } = resumablePlan(info.size);
    const started = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(info.media_id), ContentType: info.content_type }));
    assert(started.UploadId !== undefined, "BlobStoreS3.startResumable: the storage answered no UploadId");
    const declaration: Declaration = { media_id: info.media_id, content_type: info.content_type, size: info.size, expires_at_ms, upload_id: started.UploadId, part_bytes };
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(info.media_id), Body: JSON.stringify(declaration), ContentType: "application/json" }));
    return { media_id: info.media_id, content_type: info.content_type, size: info.size, part_bytes, parts, expires_at_ms, uploaded: [] };
  }

  async resumable(media_id: string): Promise<ResumableUpload | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return null;
    const uploaded = await this.uploadedParts(media_id);
    if (uploaded === null) return null;
    const { parts } = resumablePlan(declared.size);
    return { media_id, content_type: declared.content_type, size: declared.size, part_bytes: declared.part_bytes, parts, expires_at_ms: declared.expires_at_ms, uploaded };
  }

  /** S3 serves its own part URLs: a node never receives their PUTs. */
  async verifyPart(_url: string, _now_ms: number): Promise<PartGrant | null> {
    return null;
  }

  /** Stores a part through the S3 API (clients PUT to presignPart's URL instead). */
  async putPart(media_id: string, part_number: number, bytes: Uint8Array): Promise<void> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) throw new Error(`BlobStoreS3.putPart: media '${media_id}' has no resumable upload in progress`);
    const length = partLength(declared.size, declared.part_bytes, part_number);
    if (length === null) throw new Error(`BlobStoreS3.putPart: upload '${media_id}' has no part ${part_number}`);
    if (bytes.length !== length) throw new Error(`BlobStoreS3.putPart: part ${part_number} of '${media_id}' must be ${length} bytes, got ${bytes.length}`);
    await this.client.send(
      new UploadPartCommand({ Bucket: this.bucket, Key: this.key(media_id), UploadId: declared.upload_id, PartNumber: part_number, Body: bytes, ContentLength: bytes.length }),
    );
  }

  async abortResumable(media_id: string): Promise<boolean> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return false;
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(media_id), UploadId: declared.upload_id }));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(media_id) }));
    return true;
  }

  /** A pre-signed PUT for part `part_number` (1-based), bound to that part's exact length. */
  async presignPart(media_id: string, part_number: number, expires_at_ms: number): Promise<string | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return null;
    const length = partLength(declared.size, declared.part_bytes, part_number);
    if (length === null) return null;
    const signed_ms = Math.floor(this.clock.now() / 1000) * 1000;
    const expires_s = Math.ceil((Math.min(expires_at_ms, declared.expires_at_ms) - signed_ms) / 1000);
    if (expires_s < 1) return null;
    return getSignedUrl(
      this.client,
      new UploadPartCommand({ Bucket: this.bucket, Key: this.key(media_id), UploadId: declared.upload_id, PartNumber: part_number, ContentLength: length }),
      { expiresIn: Math.min(expires_s, EXPIRES_S_MAX), signingDate: new Date(signed_ms), signableHeaders: new Set(["content-length"]) },
    );
  }

  /** The parts stored whole so far (1-based), ascending: where an interrupted client resumes. */
  async uploadedParts(media_id: string): Promise<number[] | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return null;
    let stored: Part[];
    try {
      stored = await this.parts(media_id, declared.upload_id);
    } catch (error) {
      // The multipart upload is gone (aborted by another node, or a lifecycle rule).
      if (isNotFound(error)) return null;
      throw error;
    }
    return stored
      .filter((p) => p.Size === partLength(declared.size, declared.part_bytes, p.PartNumber ?? 0))
      .map((p) => p.PartNumber!)
      .sort((a, b) => a - b);
  }

  /** Joins the parts into the media; refuses (null) while any part is missing. */
  async completeResumable(media_id: string): Promise<BlobInfo | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return null;
    const stored = await this.parts(media_id, declared.upload_id);
    const count = Math.ceil(declared.size / declared.part_bytes);
    const whole = new Map(stored.filter((p) => p.Size === partLength(declared.size, declared.part_bytes, p.PartNumber ?? 0)).map((p) => [p.PartNumber!, p.ETag!]));
    for (let n = 1; n <= count; n++) if (!whole.has(n)) return null;
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key(media_id),
        UploadId: declared.upload_id,
        MultipartUpload: { Parts: [...whole].sort(([a], [b]) => a - b).map(([PartNumber, ETag]) => ({ PartNumber, ETag })) },
      }),
    );
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(media_id) }));
    return this.head(media_id);
  }

  /** Aborts resumable uploads whose URLs expired before `now_ms` (the storage drops their parts); answers how many. */
  async abortExpired(now_ms: number): Promise<number> {
    const listed = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix }));
    let aborted = 0;
    for (const upload of listed.Uploads ?? []) {
      const media_id = (upload.Key ?? "").slice(this.prefix.length);
      if (!MEDIA_ID_PATTERN.test(media_id) || upload.UploadId === undefined) continue;
      const declared = await this.declaration(media_id);
      if (declared !== null && declared.upload_id === upload.UploadId && declared.expires_at_ms > now_ms) continue;
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
      if (declared !== null && declared.upload_id === upload.UploadId) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(media_id) }));
      aborted += 1;
    }
    return aborted;
  }

  private async parts(media_id: string, upload_id: string): Promise<Part[]> {
    const answer = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: this.key(media_id), UploadId: upload_id }));
    return answer.Parts ?? [];
  }

  /** Creates the bucket (private) if it does not exist; for a fresh local S3, at start. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      // Another node made it meanwhile.
      if (!(error instanceof S3ServiceException && (error.name === "BucketAlreadyOwnedByYou" || error.name === "BucketAlreadyExists"))) throw error;
    }
  }

  close(): void {
    this.client.destroy();
  }

  private key(media_id: string): string {
    return `${this.prefix}${media_id}`;
  }

  private declarationKey(media_id: string): string {
    return `${this.prefix}${DECLARATIONS}${media_id}.json`;
  }

  /** The declaration of a resumable upload not yet completed, or null. */
  private async resumableDeclaration(media_id: string): Promise<ResumableDeclaration | null> {
    const declared = await this.declaration(media_id);
    if (declared === null || declared.upload_id === undefined || declared.part_bytes === undefined) return null;
    return { ...declared, upload_id: declared.upload_id, part_bytes: declared.part_bytes };
  }

  private async declaration(media_id: string): Promise<Declaration | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    let text: string;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.declarationKey(media_id) }));
      if (answer.Body === undefined || (answer.ContentLength ?? 0) > DECLARATION_BYTES_MAX) return null;
      text = await answer.Body.transformToString("utf8");
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    try {
      const { media_id: id, content_type, size, expires_at_ms, upload_id, part_bytes } = JSON.parse(text) as Record<string, unknown>;
      if (id !== media_id || typeof content_type !== "string" || typeof size !== "number" || typeof expires_at_ms !== "number") return null;
      return {
        media_id,
        content_type,
        size,
        expires_at_ms,
        ...(typeof upload_id === "string" ? { upload_id } : {}),
        ...(typeof part_bytes === "number" ? { part_bytes } : {}),
      };
    } catch {
      return null;
    }
  }

  /** A SigV4 pre-signed URL; `signed_at_ms` (default: the clock's now, to the second) fixes X-Amz-Date. */
  private async sign(action: SignedAction, media_id: string, expires_at_ms: number, binding: Pick<BlobInfo, "content_type" | "size"> | null, signed_at_ms?: number): Promise<string> {
    const signed_ms = signed_at_ms ?? Math.floor(this.clock.now() / 1000) * 1000;
    const expires_s = Math.ceil((expires_at_ms - signed_ms) / 1000);
    assert(expires_s >= 1 && expires_s <= EXPIRES_S_MAX, `BlobStoreS3: a URL must expire 1 s to 7 days after signing, got ${expires_s} s`);
    const command =
      action === "upload"
        ? new PutObjectCommand({ Bucket: this.bucket, Key: this.key(media_id), ContentType: binding?.content_type, ContentLength: binding?.size })
        : new GetObjectCommand({ Bucket: this.bucket, Key: this.key(media_id) });
    return getSignedUrl(this.client, command, {
      expiresIn: expires_s,
      signingDate: new Date(signed_ms),
      ...(action === "upload" ? { signableHeaders: new Set(["content-type", "content-length"]) } : {}),
    });
  }

  /** The media_id, signing time and expiry a URL of ours claims; null for anything else. */
  private parse(url: string): { media_id: string; signed_at_ms: number; expires_at_ms: number } | null {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    const path = decodeURIComponent(parsed.pathname);
    const key = path.startsWith(`/${this.bucket}/`) ? path.slice(this.bucket.length + 2) : path.slice(1);
    if (!key.startsWith(this.prefix)) return null;
    const media_id = key.slice(this.prefix.length);
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(parsed.searchParams.get("X-Amz-Date") ?? "");
    const expires = parsed.searchParams.get("X-Amz-Expires") ?? "";
    if (date === null || !/^[1-9]\d{0,6}$/.test(expires)) return null;
    const signed_at_ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
    return { media_id, signed_at_ms, expires_at_ms: signed_at_ms + Number(expires) * 1000 };
  }
}

function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode === 404 || error.name === "NoSuchKey" || error.name === "NotFound";
  return false;
}
