/**
 * Which media types a client may declare, and how each is served back. Media are fetched from
 * a URL on the node's own origin (the embedded node) where the web page keeps its session, so
 * a type a browser would run (HTML, SVG, XML, script) must never be served as itself: those
 * are refused at declaration, and only passive types are allowed at all.
 *
 * Rules: the lists are exact lower-case `type/subtype` strings (no parameters); a type not on
 * the allow-list is refused with 415 UNSUPPORTED_MEDIA_TYPE (a client may send any file as
 * `application/octet-stream`); only the raster images of INLINE_SAFE are served inline, every
 * other type as an attachment. The host adds `nosniff` and a sandboxing CSP to every answer.
 */

/** Raster images a browser only decodes (no script, no links): served inline. */
const INLINE_SAFE: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"]);

/** Passive types served as a download (`Content-Disposition: attachment`). */
const ATTACHMENT_ONLY: ReadonlySet<string> = new Set([
  "application/octet-stream",
  "application/pdf",
  "application/zip",
  "application/gzip",
  "application/x-7z-compressed",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/msword",
  "application/vnd.ms-excel",
  "application/vnd.ms-powerpoint",
  "application/vnd.oasis.opendocument.text",
  "application/vnd.oasis.opendocument.spreadsheet",
  "text/plain",
  "text/csv",
  "image/heic",
  "image/heif",
  "image/tiff",
  "audio/mpeg",
  "audio/mp4",
  "audio/aac",
  "audio/ogg",
  "audio/opus",
  "audio/wav",
  "audio/webm",
  "video/mp4",
  "video/webm",
  "video/quicktime",
  "video/3gpp",
]);

/** Whether a client may declare media of this type (compared lower-case). */
export function mediaTypeAllowed(content_type: string): boolean {
  const type = content_type.toLowerCase();
  return INLINE_SAFE.has(type) || ATTACHMENT_ONLY.has(type);
}

/**
 * How stored media of `content_type` is served: the type to send (anything not allowed, e.g.
 * stored before this list existed, goes out as octet-stream) and whether it may be inline.
 */
export function mediaServing(content_type: string): { readonly content_type: string; readonly disposition: "inline" | "attachment" } {
  const type = content_type.toLowerCase();
  if (INLINE_SAFE.has(type)) return { content_type: type, disposition: "inline" };
  if (ATTACHMENT_ONLY.has(type)) return { content_type: type, disposition: "attachment" };
  return { content_type: "application/octet-stream", disposition: "attachment" };
}

/** The media type a client should declare for a file of `type`: itself when allowed, else octet-stream. */
export function mediaTypeToDeclare(type: string): string {
  return type !== "" && mediaTypeAllowed(type) ? type.toLowerCase() : "application/octet-stream";
}

/**
 * The Content-Security-Policy of every media answer: nothing loads, and a document that is
 * opened anyway runs sandboxed (an opaque origin, no script), so it cannot read the session.
 */
export const MEDIA_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox";
