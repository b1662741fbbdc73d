/**
 * Serves the built web page from a folder: GET only, no directory listing, no path that
 * leaves the folder, index.html for "/", and an honest 404 (in the contract's shape) when
 * the page has not been built.
 */
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import type { FastifyInstance } from "fastify";
import { fail } from "./errors.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
};

/**
 * The page's policy, sent as a header (a meta tag cannot say frame-ancestors): scripts only
 * from this origin, no plugins, no framing. Media and uploads may live on the store's origin
 * (S3 in production), hence http(s) for images, media and connections.
 */
export const PAGE_CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data: http: https:; media-src 'self' blob: http: https:; connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function serveStatic(app: FastifyInstance, folder: string): void {
  const root = resolve(folder);
  const send = async (path: string, reply: import("fastify").FastifyReply): Promise<unknown> => {
    const file = resolve(join(root, normalize(path)));
    if (file !== root && !file.startsWith(root + sep)) return fail(reply, "NOT_FOUND", "No such file.");
    try {
      const info = await stat(file);
      if (!info.isFile()) return fail(reply, "NOT_FOUND", "No such file.");
      const body = await readFile(file);
      if (extname(file) === ".html") reply.header("content-security-policy", PAGE_CONTENT_SECURITY_POLICY).header("x-frame-options", "DENY");
      return reply
        .type(TYPES[extname(file)] ?? "application/octet-stream")
        .header("cache-control", extname(file) === ".html" ? "no-cache" : "public, max-age=300")
        .header("x-content-type-options", "nosniff")
        .send(body);
    } catch {
      if (path === "index.html") return fail(reply, "NOT_FOUND", `The web page is not built: no ${join(folder, "index.html")}. Run 'make run', which builds it.`);
      return fail(reply, "NOT_FOUND", "No such file.");
    }
  };
  app.get("/", (_req, reply) => send("index.html", reply));
  app.get<{ Params: { "*": string } }>("/static/*", (req, reply) => send(req.params["*"], reply));
  for (const name of ["app.js", "app.js.map", "style.css", "favicon.ico", "manifest.webmanifest", "sw.js"]) {
    app.get(`/${name}`, (_req, reply) => send(name, reply));
  }
}
