/** The machine-number lease of a Snowflake issuer: a pure state machine (step.ts). */
export * from "./step.js";
