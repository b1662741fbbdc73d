/**
 * Builds the web client: bundles web/src/main.ts (and the cores it imports by relative
 * path) into web/dist/app.js, and copies index.html and style.css beside it. No network:
 * everything the page needs is in web/dist/ afterwards.
 *
 *   node web/build.mjs            one build
 *   node web/build.mjs --watch    rebuild on change
 */
import { build, context } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "info",
  // The cores import each other as "./x.js" (NodeNext style); resolve those to the .ts files.
  resolveExtensions: [".ts", ".js"],
  plugins: [englishOnlyZod()],
};

/**
 * zod re-exports every locale (`z.locales`, `z.core.locales`), which no one here uses and which
 * would be half the bundle (~170 kB). Its English messages stay, as zod configures them.
 */
function englishOnlyZod() {
  return {
    name: "zod-english-only",
    setup(b) {
      b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
        /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)
          ? { path: join(dirname(args.importer), "..", "locales", "en.js"), namespace: "zod-locales" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(args.path)};`,
        resolveDir: dirname(args.path),
      }));
    },
  };
}

async function copyStatic() {
  await copyFile(join(here, "index.html"), join(dist, "index.html"));
  await copyFile(join(here, "style.css"), join(dist, "style.css"));
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (process.argv.includes("--watch")) {
  const ctx = await context({
    ...options,
    plugins: [...options.plugins, { name: "copy-static", setup: (b) => b.onEnd(() => copyStatic()) }],
  });
  await ctx.watch();
} else {
  await build(options);
  await copyStatic();
}
