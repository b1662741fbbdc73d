/**
 * BlobStoreLocal: media bytes in a local folder behind pre-signed, expiring URLs (the
 * embedded node). URLs have the form of BlobStoreMemory's (adapters/blob/signing.ts), so the
 * host serves both with one route.
 *
 * Layout of `directory`, per media_id (a name of `[A-Za-z0-9_-]`, at most 128 characters):
 *   `<id>.upload.json`  the declaration {media_id, content_type, size, expires_at_ms} that
 *                       presignUpload wrote; it lives until the bytes are stored or `sweep`
 *                       finds it expired
 *   `<id>.bin`          the bytes
 *   `<id>.json`         {media_id, content_type, size}: written last, it is the commit
 *                       marker; without it the media does not exist (bytes left by a crash
 *                       are overwritten by the next upload)
 *   `<id>.part-<n>`     part n of a resumable upload (its declaration has `part_bytes`),
 *                       until completeResumable joins the parts into `<id>.bin`
 *   `.<id>.<random>.tmp` a file being written; renamed into place once synced
 *
 * Rules:
 * - Every file is written to a temporary name, synced, renamed into place, and the folder is
 *   synced, so a crash leaves either the old state or the new one.
 * - An upload URL is bound to the declaration it was signed for (size and content type), so
 *   it stops working when the declaration is replaced or gone. put accepts exactly one write
 *   of at most the declared size, of a declared media_id only, and stores the declared
 *   content type; it rejects a second write, also one racing the first.
 * - One process owns the folder: the check against a second upload holds within a process.
 * - verify, get and head never throw on a media_id a client made up: they answer null.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  resumablePartLength,
  resumablePlan,
  type BlobInfo,
  type BlobStore,
  type PartGrant,
  type ResumableUpload,
  type ResumableUploads,
  type SignedAction,
} from "../../core/ports/blob-store.js";
import { assert } from "../../core/result.js";
import { MediaUrlSigner } from "./signing.js";

export type BlobStoreLocalOptions = {
  /** Whether writes are synced to disk before they count (tests may turn it off for speed). */
  readonly sync?: boolean;
};

/** The media_ids this store can name a file after. The API mints `med_` and random characters. */
const MEDIA_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const TEMP_FILE_PATTERN = /^\..+\.tmp$/;
const PART_FILE_PATTERN = /^([A-Za-z0-9_-]{1,128})\.part-([1-9][0-9]*)$/;
const DECLARATION_SUFFIX = ".upload.json";
/** A declaration file is a few hundred bytes; anything larger is not ours. */
const METADATA_BYTES_MAX = 64 * 1024;

/** A resumable upload's declaration also names its part size. */
type Declaration = BlobInfo & { readonly expires_at_ms: number; readonly part_bytes?: number };
type ResumableDeclaration = Declaration & { readonly part_bytes: number };

export class BlobStoreLocal implements BlobStore, ResumableUploads {
  private readonly directory: string;
  private readonly signer: MediaUrlSigner;
  private readonly sync: boolean;
  /** media_ids whose put is between its checks and its commit. */
  private readonly uploading = new Set<string>();
  private ready: Promise<void> | null = null;

  /**
   * `directory` is created if missing; `base_url` without a trailing slash, e.g.
   * `http://127.0.0.1:8080`; `secret` at least 32 bytes, the same across restarts so that
   * URLs outlive the process.
   */
  constructor(directory: string, base_url: string, secret: string | Uint8Array, options: BlobStoreLocalOptions = {}) {
    this.directory = directory;
    this.signer = new MediaUrlSigner("BlobStoreLocal", base_url, secret);
    this.sync = options.sync ?? true;
  }

  async presignUpload(info: BlobInfo, expires_at_ms: number): Promise<string> {
    assert(MEDIA_ID_PATTERN.test(info.media_id), `BlobStoreLocal.presignUpload: media_id must match ${MEDIA_ID_PATTERN}, got '${info.media_id}'`);
    assert(Number.isSafeInteger(info.size) && info.size >= 0, `BlobStoreLocal.presignUpload: size must be a non-negative integer, got ${info.size}`);
    const url = this.signer.url("upload", info.media_id, expires_at_ms, binding(info));
    await this.open();
    // A repeated declaration of the same upload keeps the latest expiry, so that `sweep` never
    // deletes what a URL still in force needs.
    const previous = await this.declaration(info.media_id);
    const same = previous !== null && binding(previous) === binding(info);
    const declaration: Declaration = {
      media_id: info.media_id,
      content_type: info.content_type,
      size: info.size,
      expires_at_ms: same ? Math.max(previous.expires_at_ms, expires_at_ms) : expires_at_ms,
    };
    await this.writeAtomically(`${info.media_id}${DECLARATION_SUFFIX}`, Buffer.from(JSON.stringify(declaration), "utf8"));
    return url;
  }

  async presignDownload(media_id: string, expires_at_ms: number): Promise<string> {
    assert(MEDIA_ID_PATTERN.test(media_id), `BlobStoreLocal.presignDownload: media_id must match ${MEDIA_ID_PATTERN}, got '${media_id}'`);
    return this.signer.url("download", media_id, expires_at_ms);
  }

  async verify(action: SignedAction, url: string, now_ms: number): Promise<string | null> {
    const claim = this.signer.parse(url);
    if (claim === null || claim.action !== action || !MEDIA_ID_PATTERN.test(claim.media_id)) return null;
    if (action === "download") return this.signer.check(claim, action, now_ms);
    const declared = await this.declaration(claim.media_id);
    return declared === null ? null : this.signer.check(claim, action, now_ms, binding(declared));
  }

  async uploadSize(media_id: string): Promise<number | null> {
    if (!MEDIA_ID_PATTERN.test(media_id) || (await this.head(media_id)) !== null) return null;
    const declared = await this.declaration(media_id);
    // A resumable upload goes up in parts only.
    return declared === null || declared.part_bytes !== undefined ? null : declared.size;
  }

  async put(media_id: string, bytes: Uint8Array): Promise<void> {
    if (!MEDIA_ID_PATTERN.test(media_id)) throw new Error(`BlobStoreLocal.put: '${media_id}' is not a media_id this store names files after`);
    if (this.uploading.has(media_id)) throw new Error(`BlobStoreLocal.put: media '${media_id}' is being stored; an upload URL accepts one PUT`);
    this.uploading.add(media_id);
    try {
      await this.open();
      if ((await this.head(media_id)) !== null) throw new Error(`BlobStoreLocal.put: media '${media_id}' is already stored; an upload URL accepts one PUT`);
      const declared = await this.declaration(media_id);
      if (declared === null || declared.part_bytes !== undefined) throw new Error(`BlobStoreLocal.put: media '${media_id}' has no declared upload (presignUpload first; a resumable upload goes up in parts)`);
      if (bytes.length > declared.size) {
        throw new Error(`BlobStoreLocal.put: ${bytes.length} bytes exceed the declared size ${declared.size} of media '${media_id}'`);
      }
      const info: BlobInfo = { media_id, content_type: declared.content_type, size: bytes.length };
      await this.writeAtomically(`${media_id}.bin`, bytes);
      await this.writeAtomically(`${media_id}.json`, Buffer.from(JSON.stringify(info), "utf8"));
      await rm(join(this.directory, `${media_id}${DECLARATION_SUFFIX}`), { force: true });
    } finally {
      this.uploading.delete(media_id);
    }
  }

  async get(media_id: string): Promise<Uint8Array | null> {
    const info = await this.head(media_id);
    if (info === null) return null;
    const bytes = await readIfExists(join(this.directory, `${media_id}.bin`));
    if (bytes === null) return null;
    // The commit marker is written after the bytes, so they agree unless the folder was edited.
    if (bytes.length !== info.size) throw new Error(`BlobStoreLocal.get: media '${media_id}' has ${bytes.length} bytes on disk, its metadata says ${info.size}`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  async read(media_id: string): Promise<AsyncIterable<Uint8Array> | null> {
    const info = await this.head(media_id);
    if (info === null) return null;
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(join(this.directory, `${media_id}.bin`), "r");
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    // Opened before answering: a missing file is null here, not a failure mid-download.
    return file.createReadStream({ highWaterMark: 256 * 1024 });
  }

  async head(media_id: string): Promise<BlobInfo | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    const stored = await readJson(join(this.directory, `${media_id}.json`));
    if (stored === null) return null;
    const { media_id: id, content_type, size } = stored as Record<string, unknown>;
    if (id !== media_id || typeof content_type !== "string" || typeof size !== "number") return null;
    return { media_id, content_type, size };
  }

  /**
   * Deletes declarations whose upload URLs expired before `now_ms` and temporary files older
   * than `temp_age_ms_min` (left by a crash). Answers how many files it deleted. The host
   * calls it now and then: the folder is bounded by the uploads that completed, not by the
   * ones clients only asked for.
   */
  async sweep(now_ms: number, temp_age_ms_min = 60 * 60 * 1000): Promise<number> {
    await this.open();
    let deleted = await this.abortExpired(now_ms);
    for (const name of await readdir(this.directory)) {
      const path = join(this.directory, name);
      if (name.endsWith(DECLARATION_SUFFIX)) {
        const declared = await this.declaration(name.slice(0, -DECLARATION_SUFFIX.length));
        if (declared !== null && declared.expires_at_ms > now_ms) continue;
      } else if (TEMP_FILE_PATTERN.test(name) || PART_FILE_PATTERN.test(name)) {
        // A part whose upload is still declared is not a leftover.
        const part = PART_FILE_PATTERN.exec(name);
        if (part !== null && (await this.declaration(part[1]!)) !== null) continue;
        const info = await stat(path).catch(() => null);
        if (info === null || now_ms - info.mtimeMs < temp_age_ms_min) continue;
      } else {
        continue;
      }
      await rm(path, { force: true });
      deleted += 1;
    }
    return deleted;
  }

  private async declaration(media_id: string): Promise<Declaration | null> {
    if (!MEDIA_ID_PATTERN.test(media_id)) return null;
    const stored = await readJson(join(this.directory, `${media_id}${DECLARATION_SUFFIX}`));
    if (stored === null) return null;
    const { media_id: id, content_type, size, expires_at_ms, part_bytes } = stored as Record<string, unknown>;
    if (id !== media_id || typeof content_type !== "string" || typeof size !== "number" || typeof expires_at_ms !== "number") return null;
    return { media_id, content_type, size, expires_at_ms, ...(typeof part_bytes === "number" ? { part_bytes } : {}) };
  }

  // ---- resumable uploads: part files beside the declaration --------------------------------

  async startResumable(info: BlobInfo, expires_at_ms: number): Promise<ResumableUpload> {
    assert(MEDIA_ID_PATTERN.test(info.media_id), `BlobStoreLocal.startResumable: media_id must match ${MEDIA_ID_PATTERN}, got '${info.media_id}'`);
    assert(Number.isSafeInteger(info.size) && info.size >= 1, `BlobStoreLocal.startResumable: size must be a positive integer, got ${info.size}`);
    await this.open();
    const { part_bytes, parts } = resumablePlan(info.size);
    const declaration: ResumableDeclaration = { media_id: info.media_id, content_type: info.content_type, size: info.size, expires_at_ms, part_bytes };
    await this.writeAtomically(`${info.media_id}${DECLARATION_SUFFIX}`, Buffer.from(JSON.stringify(declaration), "utf8"));
    return { ...declaration, parts, uploaded: [] };
  }

  async resumable(media_id: string): Promise<ResumableUpload | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return null;
    const { parts } = resumablePlan(declared.size);
    const uploaded: number[] = [];
    for (let n = 1; n <= parts; n++) {
      const file = await stat(this.partPath(media_id, n)).catch(() => null);
      if (file !== null && file.size === resumablePartLength(declared.size, declared.part_bytes, n)) uploaded.push(n);
    }
    return { media_id, content_type: declared.content_type, size: declared.size, part_bytes: declared.part_bytes, parts, expires_at_ms: declared.expires_at_ms, uploaded };
  }

  async presignPart(media_id: string, part_number: number, expires_at_ms: number): Promise<string | null> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null || resumablePartLength(declared.size, declared.part_bytes, part_number) === null) return null;
    return this.signer.partUrl(media_id, part_number, Math.min(expires_at_ms, declared.expires_at_ms), partBinding(declared));
  }

  async verifyPart(url: string, now_ms: number): Promise<PartGrant | null> {
    const claim = this.signer.parse(url);
    if (claim === null || claim.action !== "part" || claim.part_number === null || !MEDIA_ID_PATTERN.test(claim.media_id)) return null;
    const declared = await this.resumableDeclaration(claim.media_id);
    if (declared === null || this.signer.check(claim, "part", now_ms, partBinding(declared)) === null) return null;
    const size = resumablePartLength(declared.size, declared.part_bytes, claim.part_number);
    return size === null ? null : { media_id: claim.media_id, part_number: claim.part_number, size };
  }

  async putPart(media_id: string, part_number: number, bytes: Uint8Array): Promise<void> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) throw new Error(`BlobStoreLocal.putPart: media '${media_id}' has no resumable upload in progress`);
    const length = resumablePartLength(declared.size, declared.part_bytes, part_number);
    if (length === null) throw new Error(`BlobStoreLocal.putPart: upload '${media_id}' has no part ${part_number}`);
    if (bytes.length !== length) throw new Error(`BlobStoreLocal.putPart: part ${part_number} of '${media_id}' must be ${length} bytes, got ${bytes.length}`);
    await this.writeAtomically(`${media_id}.part-${part_number}`, bytes);
  }

  async completeResumable(media_id: string): Promise<BlobInfo | null> {
    if (this.uploading.has(media_id)) return null;
    this.uploading.add(media_id);
    try {
      const upload = await this.resumable(media_id);
      if (upload === null || upload.uploaded.length !== upload.parts) return null;
      // The parts are joined into a temporary file a part at a time (never the whole file in
      // memory), synced and renamed: a crash leaves the parts, and the upload can complete again.
      const temp = join(this.directory, `.${media_id}.bin.${randomBytes(6).toString("hex")}.tmp`);
      const file = await open(temp, "wx");
      try {
        for (let n = 1; n <= upload.parts; n++) await file.writeFile(await readFile(this.partPath(media_id, n)));
        if (this.sync) await file.sync();
      } catch (error) {
        await file.close();
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();
      await rename(temp, join(this.directory, `${media_id}.bin`));
      const info: BlobInfo = { media_id, content_type: upload.content_type, size: upload.size };
      await this.writeAtomically(`${media_id}.json`, Buffer.from(JSON.stringify(info), "utf8"));
      await this.removeUpload(media_id, upload.parts);
      return info;
    } finally {
      this.uploading.delete(media_id);
    }
  }

  async abortResumable(media_id: string): Promise<boolean> {
    const declared = await this.resumableDeclaration(media_id);
    if (declared === null) return false;
    await this.removeUpload(media_id, resumablePlan(declared.size).parts);
    return true;
  }

  async abortExpired(now_ms: number): Promise<number> {
    await this.open();
    let aborted = 0;
    for (const name of await readdir(this.directory)) {
      if (!name.endsWith(DECLARATION_SUFFIX)) continue;
      const declared = await this.resumableDeclaration(name.slice(0, -DECLARATION_SUFFIX.length));
      if (declared === null || declared.expires_at_ms > now_ms) continue;
      if (await this.abortResumable(declared.media_id)) aborted += 1;
    }
    return aborted;
  }

  /** The parts first, the declaration last: a crash in between leaves an upload sweep ends. */
  private async removeUpload(media_id: string, parts: number): Promise<void> {
    for (let n = 1; n <= parts; n++) await rm(this.partPath(media_id, n), { force: true });
    await rm(join(this.directory, `${media_id}${DECLARATION_SUFFIX}`), { force: true });
    if (this.sync) await syncDirectory(this.directory);
  }

  private partPath(media_id: string, n: number): string {
    return join(this.directory, `${media_id}.part-${n}`);
  }

  /** The declaration of a resumable upload not yet completed, or null. */
  private async resumableDeclaration(media_id: string): Promise<ResumableDeclaration | null> {
    const declared = await this.declaration(media_id);
    if (declared === null || declared.part_bytes === undefined) return null;
    if ((await this.head(media_id)) !== null) return null;
    return { ...declared, part_bytes: declared.part_bytes };
  }

  private open(): Promise<void> {
    this.ready ??= mkdir(this.directory, { recursive: true }).then(() => undefined);
    return this.ready;
  }

  private async writeAtomically(name: string, bytes: Uint8Array): Promise<void> {
    const temp = join(this.directory, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    const file = await open(temp, "wx");
    try {
      await file.writeFile(bytes);
      if (this.sync) await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, join(this.directory, name));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    if (this.sync) await syncDirectory(this.directory);
  }
}

/** What a part URL is bound to: the whole upload's declaration, so it dies with the upload. */
function partBinding(declared: ResumableDeclaration): string {
  return `${binding(declared)}\n${declared.part_bytes}\n${declared.expires_at_ms}`;
}

/** What an upload URL is bound to besides action, media_id and expiry. */
function binding(info: Pick<BlobInfo, "content_type" | "size">): string {
  return `${info.size}\n${info.content_type}`;
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

async function readJson(path: string): Promise<unknown> {
  const bytes = await readIfExists(path);
  if (bytes === null || bytes.length > METADATA_BYTES_MAX) return null;
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && (error.code === "ENOENT" || error.code === "ENOTDIR");
}
