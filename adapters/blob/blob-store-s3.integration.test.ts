/**
 * BlobStoreS3 against a real S3 server: s3proxy 2.6.0 on the filesystem, started by
 * deploy/services.sh (`up s3proxy`) when nothing answers on 127.0.0.1:9100. The contract
 * suite, then what only a real server shows: the pre-signed URLs work with plain HTTP (a
 * browser's PUT and GET), and the server refuses what the signature does not allow.
 */
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { beforeAll, describe, expect, it } from "vitest";
import { ClockManual, ClockSystem } from "../memory/clock-memory.js";
import { describeBlobStoreContract, describeResumableContract } from "../contract/blob-store.contract.js";
import { ensureService } from "../contract/services.js";
import { BlobStoreS3, PART_BYTES_MIN, type BlobStoreS3Options } from "./blob-store-s3.js";

const S3 = { endpoint: "http://127.0.0.1:9100", region: "us-east-1", bucket: "chat-media", access_key_id: "chat-local-access", secret_access_key: "chat-local-secret-key-0123456789", force_path_style: true };
const NOW_MS = 1_750_000_000_000;

beforeAll(async () => {
  await ensureService("s3proxy", 9100, 180_000);
  const store = new BlobStoreS3({ ...S3, clock: new ClockSystem() });
  await store.ensureBucket();
  store.close();
}, 200_000);

describeBlobStoreContract(
  "BlobStoreS3 on s3proxy",
  async () => {
    const blobs = new BlobStoreS3({ ...S3, prefix: `contract-${randomUUID().slice(0, 8)}/`, clock: new ClockManual(NOW_MS) });
    return { blobs, signature_param: "X-Amz-Signature", cleanup: async () => blobs.close() };
  },
  { test_timeout_ms: 30_000 },
);

describeResumableContract(
  "BlobStoreS3 on s3proxy",
  async () => {
    const blobs = new BlobStoreS3({ ...S3, prefix: `contract-${randomUUID().slice(0, 8)}/`, clock: new ClockManual(NOW_MS) });
    return { blobs, cleanup: async () => blobs.close() };
  },
  { test_timeout_ms: 60_000 },
);

describe("BlobStoreS3 on s3proxy, over plain HTTP as a browser would", () => {
  const store = (over: Partial<BlobStoreS3Options> = {}): BlobStoreS3 => new BlobStoreS3({ ...S3, prefix: `http-${randomUUID().slice(0, 8)}/`, clock: new ClockSystem(), ...over });
  const media = (): string => `m${randomUUID().replaceAll("-", "").slice(0, 20)}`;

  it("accepts a PUT of the declared type and size at the upload URL, and serves it at the download URL", async () => {
    const blobs = store();
    const bytes = Buffer.from("\x89PNG\r\n\x1a\n not really a png");
    const media_id = media();
    const upload = await blobs.presignUpload({ media_id, content_type: "image/png", size: bytes.length }, Date.now() + 60_000);
    expect(upload.startsWith(`${S3.endpoint}/${S3.bucket}/`)).toBe(true);
    expect((await fetch(upload, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes })).status).toBe(200);
    expect(await blobs.head(media_id)).toEqual({ media_id, content_type: "image/png", size: bytes.length });
    const download = await blobs.presignDownload(media_id, Date.now() + 60_000);
    const got = await fetch(download);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await got.arrayBuffer())).toEqual(bytes);
    blobs.close();
  });

  it("refuses another content type, another size, a forged signature, an expired URL and an unsigned read", async () => {
    const blobs = store();
    const bytes = Buffer.from("hello");
    const media_id = media();
    const upload = await blobs.presignUpload({ media_id, content_type: "image/png", size: bytes.length }, Date.now() + 60_000);
    expect((await fetch(upload, { method: "PUT", headers: { "content-type": "text/html" }, body: bytes })).status).toBe(403);
    expect((await fetch(upload, { method: "PUT", headers: { "content-type": "image/png" }, body: Buffer.from("hello, world") })).status).toBe(403);
    const forged = new URL(upload);
    forged.searchParams.set("X-Amz-Signature", "0".repeat(64));
    expect((await fetch(forged, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes })).status).toBe(403);
    expect(await blobs.head(media_id)).toBeNull();
    expect((await fetch(upload, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes })).status).toBe(200);
    // Signed 20 minutes ago for 10 minutes, for the same object: the server refuses it for its age.
    const prefix = new URL(upload).pathname.split("/")[2]!;
    const past = store({ prefix: `${prefix}/`, clock: new ClockManual(Date.now() - 20 * 60_000) });
    const old = await past.presignDownload(media_id, Date.now() - 10 * 60_000);
    expect(new URL(old).pathname).toBe(new URL(upload).pathname);
    expect((await fetch(old)).status).toBe(403);
    const recent = store({ prefix: `${prefix}/`, clock: new ClockManual(Date.now() - 60_000) });
    expect((await fetch(await recent.presignDownload(media_id, Date.now() + 60_000))).status).toBe(200);
    recent.close();
    const unsigned = new URL(await blobs.presignDownload(media_id, Date.now() + 60_000));
    unsigned.search = "";
    expect((await fetch(unsigned)).status).toBe(403);
    blobs.close();
    past.close();
  });
});

describe("BlobStoreS3 resumable uploads on s3proxy (multipart, pre-signed part URLs)", () => {
  const store = (clock = new ClockSystem() as ClockSystem | ClockManual): BlobStoreS3 => new BlobStoreS3({ ...S3, prefix: `resumable-${randomUUID().slice(0, 8)}/`, clock });
  const media = (): string => `m${randomUUID().replaceAll("-", "").slice(0, 20)}`;
  const bytesOf = (size: number): Buffer => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 11)) & 0xff;
    return b;
  };

  it("resumes an upload cut off halfway where it stopped, and joins the parts into the media", async () => {
    const blobs = store();
    const media_id = media();
    const file = bytesOf(PART_BYTES_MIN + 123_457);
    const plan = await blobs.startResumable({ media_id, content_type: "video/mp4", size: file.length }, Date.now() + 10 * 60_000);
    expect([plan.part_bytes, plan.parts]).toEqual([PART_BYTES_MIN, 2]);
    const slice = (n: number): Buffer => file.subarray((n - 1) * plan.part_bytes, Math.min(file.length, n * plan.part_bytes));
    const putPart = async (n: number, body: Buffer): Promise<number> => (await fetch((await blobs.presignPart(media_id, n, Date.now() + 60_000))!, { method: "PUT", body })).status;
    // Half the parts go up, then the client is gone (the app was killed, the train entered a tunnel).
    expect(await putPart(1, slice(1))).toBe(200);
    expect(await blobs.completeResumable(media_id)).toBeNull();
    // Later, from another process: ask what is there, send only the rest.
    const resumed = store();
    Object.assign(resumed, { prefix: (blobs as unknown as { prefix: string }).prefix });
    expect(await resumed.uploadedParts(media_id)).toEqual([1]);
    const sent: number[] = [];
    for (let n = 1; n <= plan.parts; n++) {
      if ((await resumed.uploadedParts(media_id))!.includes(n)) continue;
      expect(await putPart(n, slice(n))).toBe(200);
      sent.push(n);
    }
    expect(sent).toEqual([2]);
    expect(await resumed.completeResumable(media_id)).toEqual({ media_id, content_type: "video/mp4", size: file.length });
    // Buffer.equals, not toEqual: vitest compares a 5 MiB buffer element by element in ~25 s.
    expect(Buffer.from((await resumed.get(media_id))!).equals(file)).toBe(true);
    blobs.close();
    resumed.close();
  }, 60_000);

  it("holds the declared size per part and the declared content type, and has no part past the end", async () => {
    const blobs = store();
    const media_id = media();
    const size = PART_BYTES_MIN + 10;
    await blobs.startResumable({ media_id, content_type: "application/pdf", size }, Date.now() + 60_000);
    expect(await blobs.presignPart(media_id, 3, Date.now() + 60_000)).toBeNull();
    expect(await blobs.presignPart(media_id, 0, Date.now() + 60_000)).toBeNull();
    const last = (await blobs.presignPart(media_id, 2, Date.now() + 60_000))!;
    expect((await fetch(last, { method: "PUT", body: bytesOf(11) })).status).toBe(403);
    expect((await fetch(last, { method: "PUT", headers: { "content-type": "text/html" }, body: bytesOf(10) })).status).toBe(200);
    expect((await fetch((await blobs.presignPart(media_id, 1, Date.now() + 60_000))!, { method: "PUT", body: bytesOf(PART_BYTES_MIN) })).status).toBe(200);
    expect(await blobs.completeResumable(media_id)).toEqual({ media_id, content_type: "application/pdf", size });
    blobs.close();
  }, 60_000);

  it("keeps an upload resumable and removable after a part PUT dropped midway (the storage keeps no partial part)", async () => {
    const blobs = store();
    const media_id = media();
    const size = PART_BYTES_MIN + 10;
    await blobs.startResumable({ media_id, content_type: "video/mp4", size }, Date.now() + 10 * 60_000);
    const url = (await blobs.presignPart(media_id, 1, Date.now() + 60_000))!;
    // Announce the whole part, send 2 MiB of it, drop the connection.
    await new Promise<void>((resolve) => {
      const req = httpRequest(url, { method: "PUT", headers: { "content-length": String(PART_BYTES_MIN) } });
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      req.write(bytesOf(2 * 1024 * 1024), () => setTimeout(() => req.destroy(), 200));
    });
    expect((await blobs.resumable(media_id))?.uploaded).toEqual([]);
    expect((await fetch(url, { method: "PUT", body: bytesOf(PART_BYTES_MIN) })).status).toBe(200);
    expect((await blobs.resumable(media_id))?.uploaded).toEqual([1]);
    expect(await blobs.abortResumable(media_id)).toBe(true);
    expect(await blobs.resumable(media_id)).toBeNull();
    blobs.close();
  }, 60_000);

  it("aborts an unfinished upload once its URLs expired, and its parts are gone", async () => {
    const clock = new ClockManual(Date.now());
    const blobs = store(clock);
    const media_id = media();
    await blobs.startResumable({ media_id, content_type: "image/png", size: PART_BYTES_MIN + 1 }, clock.now() + 60_000);
    expect((await fetch((await blobs.presignPart(media_id, 1, clock.now() + 60_000))!, { method: "PUT", body: bytesOf(PART_BYTES_MIN) })).status).toBe(200);
    const live = store(clock);
    Object.assign(live, { prefix: (blobs as unknown as { prefix: string }).prefix });
    expect(await blobs.abortExpired(clock.now())).toBe(0);
    expect(await blobs.uploadedParts(media_id)).toEqual([1]);
    expect(await blobs.abortExpired(clock.now() + 60_001)).toBe(1);
    expect(await blobs.uploadedParts(media_id)).toBeNull();
    expect(await blobs.presignPart(media_id, 2, clock.now() + 60_000)).toBeNull();
    expect(await blobs.head(media_id)).toBeNull();
    blobs.close();
    live.close();
  }, 60_000);
});

