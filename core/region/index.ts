export * from "./home.js";
export * from "./relay.js";
export * from "./planted.js";
export * from "./relay-codec.js";
