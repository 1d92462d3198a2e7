// Builds the field app into server/field/static/app/ (committed, so the server needs no
// Node): the bundle, the photo-shrinking worker, the stylesheet, and a service worker that
// lists every file of the shell under the build's version. `make field-app` runs this.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// `node build.mjs --out DIR` builds elsewhere (a test compares it with what is committed).
const flag = process.argv.indexOf("--out");
const out = flag > 0 ? process.argv[flag + 1]
  : join(here, "..", "..", "server", "field", "static", "app");
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, target: ["chrome90", "safari15", "firefox90"],
  legalComments: "linked", logLevel: "warning" };
const main = await build({ ...common, entryPoints: [join(here, "src", "main.js")],
  format: "esm", outfile: join(out, "field.js"), metafile: true });
await build({ ...common, entryPoints: [join(here, "src", "shrink-worker.js")], format: "iife",
  outfile: join(out, "shrink-worker.js") });
await build({ ...common, entryPoints: [join(here, "src", "field.css")],
  outfile: join(out, "field.css") });

// The base map (Leaflet), loaded by the report and visit screens when tiles are set up.
const map = await build({ ...common, entryPoints: [join(here, "src", "map.js")], format: "esm",
  outfile: join(out, "map.js"), loader: { ".png": "dataurl" }, metafile: true });

const files = ["field.js", "shrink-worker.js", "field.css", "map.js", "map.css"];
const hashes = {};
const whole = createHash("sha256");
for (const name of files) {
  const bytes = readFileSync(join(out, name));
  hashes[name] = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
  whole.update(bytes);
}
const version = whole.digest("hex").slice(0, 12);
const icons = ["icon-192.png", "icon-512.png", "maskable-512.png"].map(
  (n) => `/field/static/icons/${n}`);
const precache = ["/field/", "/field/manifest.webmanifest", "/field/config.json",
  "/field/i18n/zh-CN.json", "/field/i18n/en.json",
  ...["shrink-worker.js", "map.js", "map.css"].map((n) => `/field/static/app/${n}?v=${hashes[n]}`),
  ...icons];
// field.js and field.css are inline in the shell (/field/), which the worker keeps.
await build({ ...common, entryPoints: [join(here, "src", "sw.js")], format: "iife",
  outfile: join(out, "sw.js"),
  define: { __PRECACHE__: JSON.stringify(precache), __VERSION__: JSON.stringify(version) } });
writeFileSync(join(out, "build.json"),
  JSON.stringify({ version, hashes, precache }, null, 2) + "\n");
// The licences of what the bundle carries, beside it (as server/web/static/vendor does).
const bundled = new Set([...Object.keys(main.metafile.inputs), ...Object.keys(map.metafile.inputs)]
  .map((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)).filter(Boolean).map((m) => m[1]));
const notices = [...bundled].sort().map((pkg) => {
  const dir = join(here, "node_modules", pkg);
  const file = readdirSync(dir).find((n) => /^licen[cs]e/i.test(n));
  const { version, license } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return `== ${pkg} ${version} (${license}) ==\n\n${file ? readFileSync(join(dir, file), "utf8") : ""}`;
});
writeFileSync(join(out, "LICENSES.txt"), `The npm packages bundled into field.js and map.js:\n\n${notices.join("\n")}`);
console.log(`field app ${version}: ${files.map((n) => `${n} ${hashes[n]}`).join(", ")}`);
