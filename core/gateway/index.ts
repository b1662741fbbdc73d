/** The gateway core: one connection's session as a pure state machine. */
export * from "./types.js";
export * from "./state.js";
export * from "./step.js";
export * from "./planted.js";
