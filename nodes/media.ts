/**
 * The rule for image and file content (docs/API.md): a media_id the sender minted (its MAC
 * proves the uploader without a store, nodes/auth.ts) whose bytes were uploaded (the blob
 * store has them). Shared by every node that holds WebSockets.
 */
import type { BlobStore, MediaOwnership } from "../core/ports/blob-store.js";
import type { Tokens } from "./auth.js";

export function mediaOwnership(tokens: Tokens, blobs: BlobStore): MediaOwnership {
  return {
    async isUploadedBy(media_id, user_id) {
      // The MAC first: a made-up or someone else's ID costs no store round trip.
      if (!tokens.isUploader(media_id, user_id)) return false;
      return (await blobs.head(media_id)) !== null;
    },
  };
}

/** How often the all-in-one and api nodes delete uploads that expired unfinished (and crash leftovers). */
export const MEDIA_SWEEP_INTERVAL_MS = 10 * 60 * 1000;
