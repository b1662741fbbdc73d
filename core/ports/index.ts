/** The ports: one interface per external capability. Implementations live in adapters/. */
export * from "./log.js";
export * from "./message-store.js";
export * from "./pending-store.js";
export * from "./session-store.js";
export * from "./presence.js";
export * from "./directory.js";
export * from "./push.js";
export * from "./blob-store.js";
export * from "./clock.js";
export * from "./gateway-link.js";
export * from "./lease-store.js";
export * from "./gateway-registry.js";
export * from "./timers.js";
