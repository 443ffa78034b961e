/**
 * The browser page (issue 22: LoRA training in the tab, on WebGPU) under `loratune ui`: /webgpu/ serves the built
 * static site (dist-web/, `npm run build:web`: index.html and the bundle) and /webgpu/model/ the bundled demo
 * model's files, which the page fetches by relative URLs (the static site has its own copy in dist-web/model/).
 * Without a built site the page says how to build it.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HttpError } from "../errors.ts";
import { DEMO_MODEL_DIR } from "../model/load.ts";
import type { UiContext } from "./context.ts";
import { sendBytes, sendHtml } from "./http.ts";
import { escapeHtml, layout } from "./pages/layout.ts";
import type { Route } from "./router.ts";

/** Where `npm run build:web` writes the site: dist-web/ beside src/ (or dist/) in the package. */
export const WEB_DIR = fileURLToPath(new URL("../../dist-web", import.meta.url));

/** The site's files the UI serves, with their types. */
const SITE_FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "loratune-web.js": "text/javascript; charset=utf-8",
};

/** The demo model's files the page may fetch (the rest of models/demo is not served). */
const MODEL_FILES: Record<string, string> = {
  "config.json": "application/json",
  "generation_config.json": "application/json",
  "tokenizer.json": "application/json",
  "tokenizer_config.json": "application/json",
  "chat_template.jinja": "text/plain; charset=utf-8",
  "model.safetensors": "application/octet-stream",
};

function notBuilt(dir: string): string {
  return layout(
    "Train in the browser (WebGPU)",
    "/webgpu/",
    "webgpu",
    `<p class="error">The browser page is not built: ${escapeHtml(join(dir, "index.html"))} is missing.</p>
<p>In a source checkout, build it with <code>npm run build:web</code>, then reload this page.</p>`,
  );
}

export function webRoutes(ctx: UiContext): Route[] {
  const dir = ctx.webDir ?? WEB_DIR;
  const site =
    (name: string): Route["handle"] =>
    ({ res }) => {
      const path = join(dir, name);
      if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
        if (name === "index.html") return sendHtml(res, notBuilt(dir), 404);
        throw new HttpError(404, `${path} is missing: build the browser page with npm run build:web`);
      }
      if (name === "index.html") return sendHtml(res, readFileSync(path, "utf8"));
      sendBytes(res, readFileSync(path), SITE_FILES[name]!);
    };
  return [
    {
      method: "GET",
      pattern: "/webgpu",
      handle: ({ res, url }) => {
        res.writeHead(308, { location: `/webgpu/${url.search}`, "cache-control": "no-store" });
        res.end();
      },
    },
    { method: "GET", pattern: "/webgpu/", handle: site("index.html") },
    ...Object.keys(SITE_FILES).map((name) => ({
      method: "GET" as const,
      pattern: `/webgpu/${name}`,
      handle: site(name),
    })),
    {
      method: "GET",
      pattern: "/webgpu/model/:file",
      handle: ({ res, params }) => {
        const type = MODEL_FILES[params.file!];
        if (type === undefined) throw new HttpError(404, `the demo model has no file ${params.file} to serve`);
        const path = join(DEMO_MODEL_DIR, params.file!);
        if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
          throw new HttpError(404, `${path}: no such file in the demo model`);
        }
        sendBytes(res, readFileSync(path), type);
      },
    },
  ];
}
