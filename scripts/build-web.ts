/**
 * npm run build:web: the browser page as a static site (issue 22), in dist-web/ (or the folder given with --out):
 *
 *   index.html          the page (src/web/page-html.ts)
 *   loratune-web.js     the bundle (src/web/entry.ts: tokenizer, chat template, demo task, batching, LoRA,
 *                       safetensors, the WebGPU trainer), minified, one file, no node: module
 *   model/              the bundled demo model's config.json, model.safetensors, tokenizer and chat template
 *
 * Any static host serves it (WebGPU needs https:// or localhost); `loratune ui` serves it at /webgpu/.
 * The bundle replaces kernels/index.ts (the native addon's loader) by kernels/browser.ts (the reference kernels),
 * and the build fails, naming the importer, if anything else in it imports a node: module.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Plugin } from "esbuild";
import { DEMO_MODEL_DIR } from "../src/model/load.ts";
import { BUNDLE_FILE, pageHtml } from "../src/web/page-html.ts";

const ROOT = resolve(import.meta.dirname, "..");
const SRC = join(ROOT, "src");
export const DEFAULT_OUT = join(ROOT, "dist-web");
const MODEL_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "chat_template.jinja",
  "model.safetensors",
];

/** kernels/index.ts → kernels/browser.ts; every node: import an error naming its importer. */
const browserOnly: Plugin = {
  name: "loratune-browser",
  setup(b) {
    const nativeChooser = join(SRC, "kernels", "index.ts");
    b.onResolve({ filter: /kernels\/index\.ts$/ }, (a) => {
      const target = resolve(a.resolveDir, a.path);
      return target === nativeChooser ? { path: join(SRC, "kernels", "browser.ts") } : undefined;
    });
    b.onResolve({ filter: /^node:/ }, (a) => ({
      errors: [
        {
          text: `${a.path} imported by ${a.importer.replace(`${ROOT}/`, "")}: the browser bundle must not use Node built-ins (move the file-system part to its own module)`,
        },
      ],
    }));
  },
};

export interface WebBuild {
  out: string;
  /** Bytes of the bundle, of index.html, and of the model folder. */
  bundleBytes: number;
  htmlBytes: number;
  modelBytes: number;
}

/** Builds the site into `out` (emptied first when it exists). */
export async function buildWeb(out = DEFAULT_OUT, minify = true): Promise<WebBuild> {
  const { build } = await import("esbuild");
  const r = await build({
    entryPoints: [join(SRC, "web", "entry.ts")],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: ["chrome113", "safari18", "firefox141"],
    minify,
    legalComments: "eof",
    logLevel: "silent",
    plugins: [browserOnly],
  });
  const bundle = r.outputFiles[0]!.contents;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "model"), { recursive: true });
  writeFileSync(join(out, BUNDLE_FILE), bundle);
  const html = pageHtml();
  writeFileSync(join(out, "index.html"), html);
  let modelBytes = 0;
  for (const f of MODEL_FILES) {
    const from = join(DEMO_MODEL_DIR, f);
    if (!existsSync(from)) continue;
    copyFileSync(from, join(out, "model", f));
    modelBytes += statSync(from).size;
  }
  return { out, bundleBytes: bundle.length, htmlBytes: Buffer.byteLength(html), modelBytes };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const i = process.argv.indexOf("--out");
  const out = i > 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]!) : DEFAULT_OUT;
  const b = await buildWeb(out, !process.argv.includes("--no-minify"));
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `${b.out}: index.html (${kb(b.htmlBytes)}), ${BUNDLE_FILE} (${kb(b.bundleBytes)}), model/ (${kb(b.modelBytes)}); serve the folder (https:// or localhost) or run loratune ui and open /webgpu/`,
  );
}
