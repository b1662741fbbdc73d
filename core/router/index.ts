/** The router core: consume, order, persist, deliver, commit. */
export * from "./types.js";
export * from "./state.js";
export * from "./step.js";
export * from "./ordering.js";
export * from "./planted.js";
