#!/usr/bin/env node
// Builds the native kernel addon (build/Release/loratune_native.node) with node-gyp.
// Never fails the install: without a toolchain loratune runs on its TypeScript kernels.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const verbose = process.argv.includes("--verbose");

function notice(reason) {
  console.warn(`loratune: native kernels not built (${reason}); using the TypeScript kernels.`);
  process.exit(0);
}

if (process.env.LORATUNE_SKIP_NATIVE_BUILD === "1") notice("LORATUNE_SKIP_NATIVE_BUILD=1");
if (!existsSync(join(root, "binding.gyp"))) notice("binding.gyp missing");

// npm exposes its bundled node-gyp to install scripts; when run directly, use the node-gyp bundled with the npm
// next to this node, else one on PATH. Compile the translation units in parallel.
const bundledGyp = join(
  dirname(process.execPath),
  "..",
  "lib",
  "node_modules",
  "npm",
  "node_modules",
  "node-gyp",
  "bin",
  "node-gyp.js",
);
const npmGyp = process.env.npm_config_node_gyp || (existsSync(bundledGyp) ? bundledGyp : undefined);
const gypArgs = ["rebuild", "--jobs", "max"];
// Outside npm (which passes its nodedir setting), use the headers installed with this node when it has them,
// instead of downloading them.
const prefix = join(dirname(process.execPath), "..");
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"))) {
  gypArgs.push(`--nodedir=${prefix}`);
}
const [cmd, args] = npmGyp ? [process.execPath, [npmGyp, ...gypArgs]] : ["node-gyp", gypArgs];
const result = spawnSync(cmd, args, {
  cwd: root,
  stdio: verbose ? "inherit" : ["ignore", "pipe", "pipe"],
  encoding: "utf8",
});
if (result.error) notice(`node-gyp could not start: ${result.error.message}`);
if (result.status !== 0) {
  if (!verbose) {
    const tail = `${result.stderr ?? ""}`.trim().split("\n").slice(-5).join("\n");
    if (tail) console.warn(tail);
  }
  notice(`node-gyp exited with status ${result.status}; run 'npm run build:native' for the full log`);
}
if (verbose) console.log("loratune: native kernels built.");
