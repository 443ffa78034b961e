/**
 * Where the native kernel addon is, without any install script: a binary built from source in this package
 * (build/Release/loratune_native.node, from `npm run build:native`) wins; otherwise the one prebuilt for this
 * platform and shipped inside the package (prebuilds/<platform>-<arch>/loratune_native.node, or
 * <platform>-<arch>-musl on musl libc). Node-API keeps one binary valid across Node versions, so a prebuild is
 * per platform only.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ADDON_FILE = "loratune_native.node";

/** The package root: this file is src/kernels/native/locate.ts, or dist/kernels/native/locate.js once compiled. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** The addon `npm run build:native` builds. */
export const SOURCE_BUILD_PATH = join(PACKAGE_ROOT, "build", "Release", ADDON_FILE);

/** musl-based Linux (Alpine): glibc binaries do not load there. Node's report names glibc's version when present. */
function isMusl(): boolean {
  if (process.platform !== "linux") return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime === undefined;
}

/** This machine's prebuild folder name: linux-x64, linux-arm64, linux-x64-musl, darwin-arm64, … */
export function platformTag(): string {
  return `${process.platform}-${process.arch}${isMusl() ? "-musl" : ""}`;
}

/** The prebuild folders this package ships (empty when it ships none, as in a fresh checkout). */
export function shippedPrebuilds(): string[] {
  const dir = join(PACKAGE_ROOT, "prebuilds");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((tag) => existsSync(join(dir, tag, ADDON_FILE)))
    .sort();
}

/** How to build the addon from source for this package, as one command. */
export function buildFromSourceCommand(): string {
  const here = relative(process.cwd(), PACKAGE_ROOT) === "";
  return here ? "npm run build:native" : `npm --prefix ${PACKAGE_ROOT} run build:native`;
}

export type AddonLocation = { path: string; source: "build" | "prebuilt" } | { reason: string };

/** The addon to load, or why there is none (the reason names this platform and what the package has). */
export function locateAddon(): AddonLocation {
  if (existsSync(SOURCE_BUILD_PATH)) return { path: SOURCE_BUILD_PATH, source: "build" };
  const tag = platformTag();
  const path = join(PACKAGE_ROOT, "prebuilds", tag, ADDON_FILE);
  if (existsSync(path)) return { path, source: "prebuilt" };
  const shipped = shippedPrebuilds();
  const prebuilt = shipped.length ? `this package's prebuilt ones are for ${shipped.join(", ")}` : "none is prebuilt";
  return { reason: `no binary for ${tag}: none built from source, and ${prebuilt}` };
}
