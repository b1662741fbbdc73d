/**
 * How `make profile-clinic` starts the node: Clinic.js Doctor preloads its sampler into
 * every thread (through NODE_OPTIONS) and names the sampler's output file after the process
 * id, so a worker thread of the node (the SQLite checkpointer) would open the main thread's
 * file and overwrite it ("Decoded message is not valid" when Doctor reads it back). Threads
 * started after this point get their own file name. Then it runs the node as its main module.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const script = process.env.PROFILE_NODE_SCRIPT;
if (script === undefined) throw new Error("clinic-entry: PROFILE_NODE_SCRIPT is not set");
process.env.NODE_CLINIC_DOCTOR_NAME = `${process.pid}-worker`;
process.argv[1] = resolve(script);
await import(pathToFileURL(resolve(script)).href);
