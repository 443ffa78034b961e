/**
 * Runs src/kernels/webgpu kernels in headless Chromium for the Node tests: bundles page-entry.ts with esbuild,
 * serves it on 127.0.0.1 (WebGPU needs a secure context, which localhost is), and opens it in Debian's chromium
 * through playwright-core with WebGPU on SwiftShader (a CPU adapter, so no GPU is needed).
 * `openWebGpuPage()` gives either a page to run kernels on or the reason there is none (no chromium, no
 * adapter), which the tests print and skip with.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Plugin } from "esbuild";
import type { KernelRequest, PageGlobal } from "./request.ts";

/** The chromium binary: LORATUNE_CHROMIUM, else Debian's. */
export const CHROMIUM = [process.env.LORATUNE_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p): p is string => p !== undefined && existsSync(p),
);

/** WebGPU in headless chromium on the CPU: SwiftShader's Vulkan as the adapter. */
export const WEBGPU_FLAGS = ["--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];

export interface WebGpuPage {
  run(req: KernelRequest): Promise<Record<string, number[]>>;
  close(): Promise<void>;
}

/** A test page's script: `entry` (a file in this folder) bundled by esbuild for Chromium, with `plugins`. */
export async function bundleTestPage(entry: string, plugins: Plugin[] = []): Promise<string> {
  const { build } = await import("esbuild");
  const r = await build({
    entryPoints: [join(import.meta.dirname, entry)],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "chrome120",
    logLevel: "silent",
    plugins,
  });
  return r.outputFiles[0]!.text;
}

function serve(script: string): Promise<Server> {
  const html = '<!doctype html><meta charset="utf-8"><title>webgpu kernels</title><script src="/k.js"></script>';
  const server = createServer((req, res) => {
    const js = req.url === "/k.js";
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
    res.end(js ? script : html);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** A page with the kernels loaded and a WebGPU device, or the reason the tests must skip. */
export async function openWebGpuPage(): Promise<WebGpuPage | string> {
  if (CHROMIUM === undefined) return "no chromium (install Debian's chromium, or set LORATUNE_CHROMIUM)";
  const server = await serve(await bundleTestPage("page-entry.ts"));
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_FLAGS });
  const close = async () => {
    await browser.close();
    await new Promise((r) => server.close(r));
  };
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const loaded = await page.evaluate(() => (globalThis as PageGlobal).webgpuKernels !== undefined);
  if (!loaded) {
    // A broken bundle is a failure, never a skip.
    await close();
    throw new Error(`the WebGPU kernel test page did not load: ${errors.join("; ") || "no page error reported"}`);
  }
  const why = await page.evaluate(() => (globalThis as PageGlobal).webgpuKernels!.unavailable());
  if (why !== undefined) {
    await close();
    return `no WebGPU adapter in chromium: ${why}`;
  }
  return {
    run: (req) => page.evaluate((r) => (globalThis as PageGlobal).webgpuKernels!.run(r), req),
    close,
  };
}
