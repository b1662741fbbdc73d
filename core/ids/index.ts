/** IDs: Snowflake message IDs, conversation IDs, opaque IDs. */
export * from "./snowflake.js";
export * from "./conversation.js";
export * from "./opaque.js";
