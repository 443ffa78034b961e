/**
 * Runs the GPU LoRA trainer (src/webgpu) in headless Chromium for the Node tests, as browser.ts does for the
 * kernels: bundles trainer-page-entry.ts with esbuild, serves it with the model's tensors (/tensors.bin) on
 * 127.0.0.1, and opens it in Debian's chromium with WebGPU on SwiftShader. The page uses the library's own model
 * assembly and LoRA attachment, whose modules import a few node: built-ins for file-system paths they do not take
 * here; the test bundle maps those to stubs (path helpers that join strings, everything else throwing), so a
 * browser-side use of the file system fails loudly instead of passing.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Plugin } from "esbuild";
import type { Model } from "../../../src/model/model.ts";
import { bundleTestPage, CHROMIUM, WEBGPU_FLAGS } from "./browser.ts";
import type { TensorSlice, TrainerPageGlobal, TrainerRequest, TrainerResult } from "./trainer-request.ts";

/**
 * node: built-ins as stubs with the real module's export names (read from Node at bundle time): path/url helpers
 * join their arguments (module-level path constants), every other function throws when called.
 */
const nodeStubs: Plugin = {
  name: "node-stubs",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: "node-stub" }));
    b.onLoad({ filter: /.*/, namespace: "node-stub" }, async (a) => {
      const names = Object.keys(await import(a.path)).filter((n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n));
      const pathLike = ["node:path", "node:url"].includes(a.path);
      const body = pathLike
        ? "(...xs) => xs.map(String).join('/')"
        : `() => { throw new Error(${JSON.stringify(`${a.path} is not available in the browser`)}); }`;
      const lines = names.map((n) => `export const ${n} = ${body};`);
      return { contents: `${lines.join("\n")}\nexport default {${names.join(", ")}};`, loader: "js" };
    });
  },
};

/** The model's tensors in memory layout, concatenated, with their slices (4-byte aligned). */
export function packTensors(model: Model): { slices: TensorSlice[]; bytes: Buffer } {
  const slices: TensorSlice[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of model.tensors) {
    if (t.dtype !== "f32" && t.dtype !== "bf16") throw new Error(`packTensors: ${name} is ${t.dtype}`);
    const data = t.data as Float32Array | Uint16Array;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const padded = Buffer.alloc(Math.ceil(buf.length / 4) * 4);
    buf.copy(padded);
    slices.push({ name, dtype: t.dtype, shape: t.shape, byteOffset: offset, byteLength: buf.length });
    parts.push(padded);
    offset += padded.length;
  }
  return { slices, bytes: Buffer.concat(parts) };
}

function serve(script: string, tensors: Buffer): Promise<Server> {
  const html = '<!doctype html><meta charset="utf-8"><title>webgpu trainer</title><script src="/t.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === "/tensors.bin") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(tensors);
      return;
    }
    const js = req.url === "/t.js";
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
    res.end(js ? script : html);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/**
 * Runs `req` on a page serving `tensors`; returns its result, or the reason there is no WebGPU (the test skips
 * with it). A page that fails to load or a run that throws is a failure, never a skip.
 */
export async function runGpuTrainer(req: TrainerRequest, tensors: Buffer): Promise<TrainerResult | string> {
  if (CHROMIUM === undefined) return "no chromium (install Debian's chromium, or set LORATUNE_CHROMIUM)";
  const server = await serve(await bundleTestPage("trainer-page-entry.ts", [nodeStubs]), tensors);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_FLAGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const loaded = await page.evaluate(() => (globalThis as TrainerPageGlobal).webgpuTrainer !== undefined);
    if (!loaded) throw new Error(`the GPU trainer test page did not load: ${errors.join("; ") || "no page error"}`);
    const why = await page.evaluate(() => (globalThis as TrainerPageGlobal).webgpuTrainer!.unavailable());
    if (why !== undefined) return `no WebGPU adapter in chromium: ${why}`;
    return await page.evaluate((r) => (globalThis as TrainerPageGlobal).webgpuTrainer!.run(r), req);
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}
