/** Receipts: statuses that only move forward. */
export * from "./receipts.js";
