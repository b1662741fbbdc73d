/** The client core: retries, dedup, acks, reconnects, one order per conversation. */
export * from "./types.js";
export * from "./state.js";
export * from "./step.js";
