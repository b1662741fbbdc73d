/**
 * Test support for the Redis adapters: makes sure a Redis answers on 127.0.0.1:6379 before a
 * suite starts, starting it with deploy/services.sh when the port is closed, and failing (never
 * skipping) with the script's output when that does not work. Not used by production code.
 */

export { ensureService, portOpen } from "../contract/services.js";

export const REDIS_PORT = 6379;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
