/**
 * The BlobStore contract (core/ports/blob-store.ts), as vitest tests that every BlobStore
 * must pass: memory, the local folder of the embedded node, and S3-compatible storage.
 *
 * Rules of this suite: it speaks only the port and the harness; every test uses its own
 * media IDs. It assumes what every signed-URL scheme we know shares: the media_id appears
 * literally in the URL, and the signature is one query parameter, whose name the harness
 * gives. Time is passed to verify as `now_ms`, so expiry needs no waiting.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RESUMABLE_PART_BYTES_MIN, resumablePlan, type BlobInfo, type BlobStore, type ResumableUploads } from "../../core/ports/blob-store.js";

export type BlobStoreHarness = {
  readonly blobs: BlobStore;
  /** The query parameter that carries the signature (`sig` for the memory store). */
  readonly signature_param: string;
  /** Releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type BlobStoreContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

const NOW_MS = 1_750_000_000_000;
const TTL_MS = 15 * 60 * 1000;

/**
 * `text` with the character at `index` replaced by a different one of the same kind. A digit
 * goes up by one (9 down to 8), so a leading digit stays non-zero and a number stays a
 * well-formed number: a store must refuse it for its signature, not for its spelling.
 */
function changeOneChar(text: string, index: number): string {
  const c = text[index];
  if (c === undefined) throw new Error(`BlobStore contract: no character at ${index} of '${text}'`);
  const replacement = /[0-9]/.test(c)
    ? c === "9"
      ? "8"
      : String(Number(c) + 1)
    : c === "a"
      ? "b"
      : c === "A"
        ? "B"
        : /[a-z]/.test(c)
          ? "a"
          : /[A-Z]/.test(c)
            ? "A"
            : "x";
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

export function describeBlobStoreContract(name: string, factory: () => Promise<BlobStoreHarness>, options: BlobStoreContractOptions = {}): void {
  describe(`BlobStore contract: ${name}`, () => {
    let harness: BlobStoreHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const h = (): BlobStoreHarness => {
      if (harness === null) throw new Error("BlobStore contract: the harness is not open");
      return harness;
    };
    const blobs = (): BlobStore => h().blobs;

    /** Media IDs as the API mints them: a prefix and random lower-case characters. */
    const mediaId = (): string => `med_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
    const info = (size = 5): BlobInfo => ({ media_id: mediaId(), content_type: "image/png", size });

    const withParam = (url: string, param: string, change: (value: string) => string): string => {
      const parsed = new URL(url);
      const value = parsed.searchParams.get(param);
      if (value === null) throw new Error(`BlobStore contract: the URL has no '${param}' parameter: ${url}`);
      parsed.searchParams.set(param, change(value));
      return parsed.toString();
    };

    const timeout = options.test_timeout_ms;

    it(
      "grants an upload URL for upload of its media_id only, until it expires",
      async () => {
        const declared = info();
        const url = await blobs().presignUpload(declared, NOW_MS + TTL_MS);
        expect(url).toContain(declared.media_id);
        expect(await blobs().verify("upload", url, NOW_MS)).toBe(declared.media_id);
        expect(await blobs().verify("upload", url, NOW_MS + TTL_MS - 1)).toBe(declared.media_id);
        expect(await blobs().verify("download", url, NOW_MS)).toBeNull();
      },
      timeout,
    );

    it(
      "grants a download URL for download of its media_id only, until it expires",
      async () => {
        const media_id = mediaId();
        const url = await blobs().presignDownload(media_id, NOW_MS + TTL_MS);
        expect(url).toContain(media_id);
        expect(await blobs().verify("download", url, NOW_MS)).toBe(media_id);
        expect(await blobs().verify("download", url, NOW_MS + TTL_MS - 1)).toBe(media_id);
        expect(await blobs().verify("upload", url, NOW_MS)).toBeNull();
      },
      timeout,
    );

    it(
      "refuses a URL at or after its expiry",
      async () => {
        const declared = info();
        const upload = await blobs().presignUpload(declared, NOW_MS + TTL_MS);
        const download = await blobs().presignDownload(declared.media_id, NOW_MS + TTL_MS);
        for (const now_ms of [NOW_MS + TTL_MS, NOW_MS + TTL_MS + 1, NOW_MS + 10 * TTL_MS]) {
          expect(await blobs().verify("upload", upload, now_ms)).toBeNull();
          expect(await blobs().verify("download", download, now_ms)).toBeNull();
        }
      },
      timeout,
    );

    it(
      "refuses a URL whose signature lost or changed a character",
      async () => {
        const declared = info();
        const param = h().signature_param;
        for (const [action, url] of [
          ["upload", await blobs().presignUpload(declared, NOW_MS + TTL_MS)],
          ["download", await blobs().presignDownload(declared.media_id, NOW_MS + TTL_MS)],
        ] as const) {
          const signature = new URL(url).searchParams.get(param) ?? "";
          expect(signature.length).toBeGreaterThan(0);
          for (const index of [0, Math.floor(signature.length / 2), signature.length - 1]) {
            expect(await blobs().verify(action, withParam(url, param, (s) => changeOneChar(s, index)), NOW_MS)).toBeNull();
          }
          expect(await blobs().verify(action, withParam(url, param, (s) => s.slice(0, -1)), NOW_MS)).toBeNull();
          expect(await blobs().verify(action, withParam(url, param, () => ""), NOW_MS)).toBeNull();
        }
      },
      timeout,
    );

    it(
      "refuses a signature moved to another media_id",
      async () => {
        const declared = info();
        for (const [action, url] of [
          ["upload", await blobs().presignUpload(declared, NOW_MS + TTL_MS)],
          ["download", await blobs().presignDownload(declared.media_id, NOW_MS + TTL_MS)],
        ] as const) {
          const moved = url.replace(declared.media_id, changeOneChar(declared.media_id, declared.media_id.length - 1));
          expect(moved).not.toBe(url);
          expect(await blobs().verify(action, moved, NOW_MS)).toBeNull();
        }
      },
      timeout,
    );

    it(
      "refuses a URL with any other query value changed (an expiry pushed later included)",
      async () => {
        const declared = info();
        const param = h().signature_param;
        const url = await blobs().presignDownload(declared.media_id, NOW_MS + TTL_MS);
        const names = [...new URL(url).searchParams.keys()].filter((n) => n !== param);
        expect(names.length).toBeGreaterThan(0);
        for (const name of names) {
          const value = new URL(url).searchParams.get(name) ?? "";
          if (value.length === 0) continue;
          expect(await blobs().verify("download", withParam(url, name, (s) => changeOneChar(s, 0)), NOW_MS)).toBeNull();
        }
      },
      timeout,
    );

    it(
      "refuses what is not a signed URL",
      async () => {
        for (const url of ["", "not a url", "http://127.0.0.1/media//download", `http://127.0.0.1/media/${mediaId()}/download`]) {
          expect(await blobs().verify("download", url, NOW_MS)).toBeNull();
        }
      },
      timeout,
    );

    it(
      "stores bytes and describes them: put, get and head round trip",
      async () => {
        const bytes = new Uint8Array([0, 1, 2, 250, 255, 128, 7]);
        const declared: BlobInfo = { media_id: mediaId(), content_type: "application/pdf", size: bytes.length };
        await blobs().presignUpload(declared, NOW_MS + TTL_MS);
        expect(await blobs().head(declared.media_id)).toBeNull();
        expect(await blobs().get(declared.media_id)).toBeNull();
        expect(await blobs().uploadSize(declared.media_id)).toBe(bytes.length);
        expect(await blobs().uploadSize(mediaId())).toBeNull();
        await blobs().put(declared.media_id, bytes);
        expect(await blobs().uploadSize(declared.media_id)).toBeNull();
        expect(await blobs().head(declared.media_id)).toEqual(declared);
        const got = await blobs().get(declared.media_id);
        expect(got === null ? null : Array.from(got)).toEqual(Array.from(bytes));
        const chunks = await blobs().read(declared.media_id);
        const read: number[] = [];
        for await (const chunk of chunks ?? []) read.push(...chunk);
        expect(chunks === null ? null : read).toEqual(Array.from(bytes));
        expect(await blobs().get(mediaId())).toBeNull();
        expect(await blobs().read(mediaId())).toBeNull();
        expect(await blobs().head(mediaId())).toBeNull();
      },
      timeout,
    );

    it(
      "keeps media apart",
      async () => {
        const one: BlobInfo = { media_id: mediaId(), content_type: "image/jpeg", size: 3 };
        const two: BlobInfo = { media_id: mediaId(), content_type: "text/plain", size: 2 };
        await blobs().presignUpload(one, NOW_MS + TTL_MS);
        await blobs().presignUpload(two, NOW_MS + TTL_MS);
        await blobs().put(one.media_id, new Uint8Array([1, 2, 3]));
        await blobs().put(two.media_id, new Uint8Array([9, 8]));
        expect(await blobs().head(one.media_id)).toEqual(one);
        expect(await blobs().head(two.media_id)).toEqual(two);
        const got = await blobs().get(two.media_id);
        expect(got === null ? null : Array.from(got)).toEqual([9, 8]);
      },
      timeout,
    );
  });
}

export type ResumableHarness = {
  readonly blobs: BlobStore & ResumableUploads;
  cleanup(): Promise<void>;
};

/**
 * The resumable half of the port (ResumableUploads): parts planned alike in every store, an
 * upload cut off halfway resumed from what the store says it has, completion only once every
 * part is there, and unfinished uploads removed with their parts when they expire.
 */
export function describeResumableContract(name: string, factory: () => Promise<ResumableHarness>, options: BlobStoreContractOptions = {}): void {
  describe(`ResumableUploads contract: ${name}`, () => {
    let harness: ResumableHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const blobs = (): BlobStore & ResumableUploads => {
      if (harness === null) throw new Error("ResumableUploads contract: the harness is not open");
      return harness.blobs;
    };
    const mediaId = (): string => `med_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
    /** Bytes that differ from part to part, so a part stored in the wrong place shows. */
    const fileOf = (size: number): Buffer => {
      const b = Buffer.alloc(size);
      for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 13)) & 0xff;
      return b;
    };
    const timeout = options.test_timeout_ms;
    const size = RESUMABLE_PART_BYTES_MIN + 4_321;

    it(
      "resumes an upload cut off halfway from the parts the store has, and joins them once all are there",
      async () => {
        const media_id = mediaId();
        const file = fileOf(size);
        const started = await blobs().startResumable({ media_id, content_type: "video/mp4", size }, NOW_MS + TTL_MS);
        expect(started).toEqual({ media_id, content_type: "video/mp4", size, part_bytes: RESUMABLE_PART_BYTES_MIN, parts: 2, expires_at_ms: NOW_MS + TTL_MS, uploaded: [] });
        expect(resumablePlan(size)).toEqual({ part_bytes: started.part_bytes, parts: started.parts });
        const part = (n: number): Buffer => file.subarray((n - 1) * started.part_bytes, Math.min(size, n * started.part_bytes));
        await blobs().putPart(media_id, 1, part(1));
        // Cut off here. What the store says is where the client resumes.
        expect((await blobs().resumable(media_id))?.uploaded).toEqual([1]);
        expect(await blobs().completeResumable(media_id)).toBeNull();
        expect(await blobs().head(media_id)).toBeNull();
        expect((await blobs().resumable(media_id))?.uploaded).toEqual([1]);
        await blobs().putPart(media_id, 2, part(2));
        expect((await blobs().resumable(media_id))?.uploaded).toEqual([1, 2]);
        expect(await blobs().completeResumable(media_id)).toEqual({ media_id, content_type: "video/mp4", size });
        expect(await blobs().head(media_id)).toEqual({ media_id, content_type: "video/mp4", size });
        const got = await blobs().get(media_id);
        // Buffer.equals: vitest's toEqual walks a 5 MiB buffer for half a minute.
        expect(got !== null && Buffer.from(got).equals(file)).toBe(true);
        expect(await blobs().resumable(media_id)).toBeNull();
      },
      timeout,
    );

    it(
      "holds each part to its exact length and has no part 0 or past the end",
      async () => {
        const media_id = mediaId();
        await blobs().startResumable({ media_id, content_type: "application/pdf", size }, NOW_MS + TTL_MS);
        expect(await blobs().presignPart(media_id, 0, NOW_MS + TTL_MS)).toBeNull();
        expect(await blobs().presignPart(media_id, 3, NOW_MS + TTL_MS)).toBeNull();
        expect(await blobs().presignPart(mediaId(), 1, NOW_MS + TTL_MS)).toBeNull();
        expect(await blobs().presignPart(media_id, 2, NOW_MS + TTL_MS)).toContain(media_id);
        await expect(blobs().putPart(media_id, 2, fileOf(4_322))).rejects.toThrow();
        await expect(blobs().putPart(media_id, 3, fileOf(1))).rejects.toThrow();
        await expect(blobs().putPart(media_id, 1, fileOf(100))).rejects.toThrow();
        expect((await blobs().resumable(media_id))?.uploaded).toEqual([]);
        // A resumable upload takes no single PUT.
        expect(await blobs().uploadSize(media_id)).toBeNull();
      },
      timeout,
    );

    it(
      "removes an unfinished upload and its parts once it expires, and only then; abort removes one at once",
      async () => {
        const expiring = mediaId();
        const later = mediaId();
        const aborted = mediaId();
        for (const [media_id, ttl] of [[expiring, TTL_MS], [later, 10 * TTL_MS], [aborted, 10 * TTL_MS]] as const) {
          await blobs().startResumable({ media_id, content_type: "image/png", size }, NOW_MS + ttl);
          await blobs().putPart(media_id, 2, fileOf(4_321));
        }
        expect(await blobs().abortExpired(NOW_MS + TTL_MS - 1)).toBe(0);
        expect((await blobs().resumable(expiring))?.uploaded).toEqual([2]);
        expect(await blobs().abortExpired(NOW_MS + TTL_MS)).toBe(1);
        expect(await blobs().resumable(expiring)).toBeNull();
        expect(await blobs().presignPart(expiring, 1, NOW_MS + TTL_MS)).toBeNull();
        await expect(blobs().putPart(expiring, 1, fileOf(RESUMABLE_PART_BYTES_MIN))).rejects.toThrow();
        expect(await blobs().completeResumable(expiring)).toBeNull();
        expect(await blobs().head(expiring)).toBeNull();
        expect((await blobs().resumable(later))?.uploaded).toEqual([2]);
        expect(await blobs().abortResumable(aborted)).toBe(true);
        expect(await blobs().abortResumable(aborted)).toBe(false);
        expect(await blobs().resumable(aborted)).toBeNull();
        expect(await blobs().abortResumable(later)).toBe(true);
      },
      timeout,
    );
  });
}
