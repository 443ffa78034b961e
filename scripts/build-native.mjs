#!/usr/bin/env node
// Builds the native kernel addon from source for this machine (build/Release/loratune_native.node, which the
// loader prefers over the prebuilt binaries in prebuilds/). Run by `npm run build:native`, and by `prepare` when
// a checkout of the repository is installed. Never fails: without a toolchain loratune uses a prebuilt binary for
// this platform when the package has one, else its TypeScript kernels.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeGypRebuild } from "./node-gyp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const verbose = process.argv.includes("--verbose");

function notice(reason) {
  console.warn(`loratune: native kernels not built from source (${reason}).`);
  process.exit(0);
}

if (process.env.LORATUNE_SKIP_NATIVE_BUILD === "1") notice("LORATUNE_SKIP_NATIVE_BUILD=1");
if (!existsSync(join(root, "binding.gyp"))) notice("binding.gyp missing");

const result = nodeGypRebuild(root, { verbose });
if (result.error) notice(`node-gyp could not start: ${result.error.message}`);
if (result.status !== 0) {
  if (!verbose) {
    const tail = `${result.stderr ?? ""}`.trim().split("\n").slice(-5).join("\n");
    if (tail) console.warn(tail);
  }
  notice(`node-gyp exited with status ${result.status}; run 'npm run build:native' for the full log`);
}
if (verbose) console.log("loratune: native kernels built.");
