export * from "./home.js";
export * from "./relay.js";
export * from "./planted.js";
