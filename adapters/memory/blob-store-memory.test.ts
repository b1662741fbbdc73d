import { describe, expect, it } from "vitest";
import { describeBlobStoreContract } from "../contract/blob-store.contract.js";
import { BlobStoreMemory } from "./blob-store-memory.js";

const SECRET = "0123456789abcdef0123456789abcdef-test-secret";

describeBlobStoreContract("BlobStoreMemory", async () => ({
  blobs: new BlobStoreMemory("http://127.0.0.1:8080", SECRET),
  signature_param: "sig",
  cleanup: async () => undefined,
}));

describe("BlobStoreMemory", () => {
  const info = { media_id: "med_abc", content_type: "image/png", size: 3 };

  it("builds URLs in the documented form", async () => {
    const blobs = new BlobStoreMemory("http://127.0.0.1:8080/", SECRET);
    expect(await blobs.presignUpload(info, 1_000)).toMatch(/^http:\/\/127\.0\.0\.1:8080\/media\/med_abc\/upload\?expires=1000&sig=[0-9a-f]{64}$/);
    expect(await blobs.presignDownload("med_abc", 2_000)).toMatch(/^http:\/\/127\.0\.0\.1:8080\/media\/med_abc\/download\?expires=2000&sig=[0-9a-f]{64}$/);
  });

  it("verifies the request path alone, as a host sees it", async () => {
    const blobs = new BlobStoreMemory("http://127.0.0.1:8080", SECRET);
    const url = new URL(await blobs.presignDownload("med_abc", 2_000));
    expect(await blobs.verify("download", url.pathname + url.search, 1_000)).toBe("med_abc");
  });

  it("refuses URLs signed with another secret", async () => {
    const mine = new BlobStoreMemory("http://h", SECRET);
    const theirs = new BlobStoreMemory("http://h", `${SECRET}-other`);
    expect(await mine.verify("download", await theirs.presignDownload("med_abc", 2_000), 1_000)).toBeNull();
  });

  it("refuses an expiry spelled with a leading zero", async () => {
    const blobs = new BlobStoreMemory("http://h", SECRET);
    const url = await blobs.presignDownload("med_abc", 2_000);
    expect(await blobs.verify("download", url.replace("expires=2000", "expires=02000"), 1_000)).toBeNull();
  });

  it("accepts one put of at most the declared size", async () => {
    const blobs = new BlobStoreMemory("http://h", SECRET);
    await blobs.presignUpload(info, 1_000);
    await expect(blobs.put("med_abc", new Uint8Array(4))).rejects.toThrow(/exceed the declared size 3/);
    await blobs.put("med_abc", new Uint8Array([1, 2]));
    await expect(blobs.put("med_abc", new Uint8Array([1]))).rejects.toThrow(/already stored/);
    expect(await blobs.head("med_abc")).toEqual({ media_id: "med_abc", content_type: "image/png", size: 2 });
  });

  it("rejects a short secret at construction", () => {
    expect(() => new BlobStoreMemory("http://h", "short")).toThrow(/32 bytes/);
  });
});
