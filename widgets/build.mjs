// Bundle each view's ES module (and its CSS) into agentlab/static/ with esbuild.
// `node build.mjs` builds once (minified); `node build.mjs --watch` rebuilds on change
// (pair it with ANYWIDGET_HMR=1 in the kernel).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const watch = process.argv.includes("--watch");
const VIEWS = ["tree", "stream", "timeline", "sequence"];

const options = {
  entryPoints: VIEWS.map((v) => path.join(here, "src", `${v}.js`)),
  outdir: path.join(here, "..", "agentlab", "static"),
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: !watch && !process.env.AGENTLAB_DEV,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
