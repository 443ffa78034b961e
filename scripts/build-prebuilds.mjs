#!/usr/bin/env node
// Builds the native addon binaries shipped inside the package, prebuilds/linux-<arch>/loratune_native.node, for
// `npm pack` / `npm publish` (prepack checks they are there). Usage:
//   node scripts/build-prebuilds.mjs [--arch x64,arm64] [--verbose]
// Each architecture builds in its own temporary copy of binding.gyp and native/, so build/ (this machine's build
// from source) is left alone. An architecture other than this machine's is cross-compiled with Debian's cross
// toolchain (arm64: apt-get install g++-aarch64-linux-gnu). Node-API keeps each binary valid for every Node >= 20.
// Fails (exit 1) when a binary cannot be built: a package must not ship without them.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeGypRebuild } from "./node-gyp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ADDON = "loratune_native.node";

/** Per architecture: Debian's cross-toolchain prefix, its package, and the ELF e_machine its binaries carry. */
const TARGETS = {
  x64: { prefix: "x86_64-linux-gnu-", apt: "g++-x86-64-linux-gnu", machine: 0x3e },
  arm64: { prefix: "aarch64-linux-gnu-", apt: "g++-aarch64-linux-gnu", machine: 0xb7 },
};

function fail(message) {
  console.error(`build-prebuilds: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const at = argv.indexOf("--arch");
  const archs = at >= 0 ? (argv[at + 1] ?? "").split(",").filter(Boolean) : Object.keys(TARGETS);
  for (const arch of archs) {
    if (!(arch in TARGETS)) fail(`unknown --arch ${arch} (known: ${Object.keys(TARGETS).join(", ")})`);
  }
  return { archs, verbose: argv.includes("--verbose") };
}

/** The toolchain for `arch`: this machine's own, or Debian's cross toolchain for another (env and strip). */
function toolchain(arch) {
  if (arch === process.arch) return { env: process.env, strip: "strip" };
  const { prefix, apt } = TARGETS[arch];
  if (spawnSync(`${prefix}g++`, ["--version"]).error) {
    fail(`cross-compiling for ${arch} needs ${prefix}g++ (Debian: apt-get install ${apt})`);
  }
  const cc = { CC: `${prefix}gcc`, CXX: `${prefix}g++`, LINK: `${prefix}g++`, AR: `${prefix}ar` };
  return { env: { ...process.env, ...cc }, strip: `${prefix}strip` };
}

/** Drops symbols a user's machine never needs (a third of the size); builds from source keep them for profiling. */
function strip(tool, file) {
  const r = spawnSync(tool, ["--strip-unneeded", file], { encoding: "utf8" });
  if (r.error || r.status !== 0) fail(`${tool} failed on ${file}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** The ELF e_machine field of a binary (0x3e x86-64, 0xb7 AArch64). */
function elfMachine(file) {
  const head = readFileSync(file).subarray(0, 20);
  if (head.toString("latin1", 1, 4) !== "ELF") fail(`${file} is not an ELF binary`);
  return head.readUInt16LE(18);
}

/** Builds one architecture's binary in a scratch copy of the sources and copies it into prebuilds/. */
function buildArch(arch, verbose) {
  const tools = toolchain(arch);
  const scratch = mkdtempSync(join(tmpdir(), `loratune-prebuild-${arch}-`));
  try {
    copyFileSync(join(root, "binding.gyp"), join(scratch, "binding.gyp"));
    cpSync(join(root, "native"), join(scratch, "native"), { recursive: true });
    const started = performance.now();
    const r = nodeGypRebuild(scratch, { args: [`--arch=${arch}`], env: tools.env, verbose });
    if (r.error) fail(`node-gyp could not start: ${r.error.message}`);
    if (r.status !== 0) {
      if (!verbose) console.error(`${r.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n"));
      fail(`node-gyp failed for linux-${arch} (status ${r.status}; --verbose shows the full log)`);
    }
    const built = join(scratch, "build", "Release", ADDON);
    if (elfMachine(built) !== TARGETS[arch].machine) fail(`${built} is not a linux-${arch} binary`);
    strip(tools.strip, built);
    const dest = join(root, "prebuilds", `linux-${arch}`);
    mkdirSync(dest, { recursive: true });
    copyFileSync(built, join(dest, ADDON));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`build-prebuilds: prebuilds/linux-${arch}/${ADDON} (${seconds} s)`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.platform !== "linux") fail(`prebuilt binaries are built on Linux (this is ${process.platform})`);
const { archs, verbose } = parseArgs(process.argv.slice(2));
for (const arch of archs) buildArch(arch, verbose);
