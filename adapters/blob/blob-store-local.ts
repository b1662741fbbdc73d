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
import type { BlobInfo, BlobStore, SignedAction } from "../../core/ports/blob-store.js";
import { assert } from "../../core/result.js";
import { MediaUrlSigner } from "./signing.js";

export type BlobStoreLocalOptions = {
  /** Whether writes are synced to disk before they count (tests may turn it off for speed). */
  readonly sync?: boolean;
};

/** The media_ids this store can name a file after. The API mints `med_` and random characters. */
const MEDIA_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const TEMP_FILE_PATTERN = /^\..+\.tmp$/;
const DECLARATION_SUFFIX = ".upload.json";
/** A declaration file is a few hundred bytes; anything larger is not ours. */
const METADATA_BYTES_MAX = 64 * 1024;

type Declaration = BlobInfo & { readonly expires_at_ms: number };

export class BlobStoreLocal implements BlobStore {
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
    return (await this.declaration(media_id))?.size ?? null;
  }

  async put(media_id: string, bytes: Uint8Array): Promise<void> {
    if (!MEDIA_ID_PATTERN.test(media_id)) throw new Error(`BlobStoreLocal.put: '${media_id}' is not a media_id this store names files after`);
    if (this.uploading.has(media_id)) throw new Error(`BlobStoreLocal.put: media '${media_id}' is being stored; an upload URL accepts one PUT`);
    this.uploading.add(media_id);
    try {
      await this.open();
      if ((await this.head(media_id)) !== null) throw new Error(`BlobStoreLocal.put: media '${media_id}' is already stored; an upload URL accepts one PUT`);
      const declared = await this.declaration(media_id);
      if (declared === null) throw new Error(`BlobStoreLocal.put: media '${media_id}' has no declared upload (presignUpload first)`);
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
    let deleted = 0;
    for (const name of await readdir(this.directory)) {
      const path = join(this.directory, name);
      if (name.endsWith(DECLARATION_SUFFIX)) {
        const declared = await this.declaration(name.slice(0, -DECLARATION_SUFFIX.length));
        if (declared !== null && declared.expires_at_ms > now_ms) continue;
      } else if (TEMP_FILE_PATTERN.test(name)) {
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
    const { media_id: id, content_type, size, expires_at_ms } = stored as Record<string, unknown>;
    if (id !== media_id || typeof content_type !== "string" || typeof size !== "number" || typeof expires_at_ms !== "number") return null;
    return { media_id, content_type, size, expires_at_ms };
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
