/** The wire contract of docs/API.md: schemas, types, decoders and error codes. */
export * from "./errors.js";
export * from "./fields.js";
export * from "./frames.js";
export * from "./rest.js";
export * from "./decode.js";
