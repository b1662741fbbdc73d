/**
 * The blob stores: S3-compatible storage (production), the local folder of the embedded node, and the
 * signed-URL scheme it shares with BlobStoreMemory.
 */
export { BlobStoreLocal, type BlobStoreLocalOptions } from "./blob-store-local.js";
export { BlobStoreS3, type BlobStoreS3Options } from "./blob-store-s3.js";
export { MediaUrlSigner, SIGNING_SECRET_BYTES_MIN, type ParsedMediaUrl } from "./signing.js";
