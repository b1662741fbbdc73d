/**
 * The blob stores that serve their own bytes: the local folder of the embedded node, and the
 * signed-URL scheme it shares with BlobStoreMemory.
 */
export { BlobStoreLocal, type BlobStoreLocalOptions } from "./blob-store-local.js";
export { MediaUrlSigner, SIGNING_SECRET_BYTES_MIN, type ParsedMediaUrl } from "./signing.js";
