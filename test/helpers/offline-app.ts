/**
 * A fresh app that depends on a packed loratune tarball, installable offline. `npm install --offline <tarball>`
 * alone fails on a machine that ran only `npm ci` (CI): npm ci fetches tarballs by the lockfile's addresses and
 * caches no registry metadata, so resolving the tarball's dependencies finds nothing cached. The app therefore
 * gets a lockfile of its own: loratune's runtime dependencies copied from the repository's package-lock.json
 * (same versions, addresses and integrity, which npm ci already put in npm's cache) plus the tarball itself.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  [key: string]: unknown;
}

interface Lockfile {
  packages: Record<string, LockEntry>;
}

/** Where npm would find `name` from the package at `from` (a lockfile path): nested first, then each parent. */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) throw new Error(`package-lock.json has no entry for ${name} (needed by ${from || "the root"})`);
    const cut = base.lastIndexOf("/node_modules/");
    base = cut < 0 ? "" : base.slice(0, cut);
  }
}

/** The lockfile entries of `deps` and everything they depend on, by lockfile path. */
export function runtimeClosure(lock: Lockfile, deps: Record<string, string>): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const queue = Object.keys(deps).map((name) => resolveIn(lock.packages, "", name));
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (out[path]) continue;
    const entry = lock.packages[path]!;
    // The app installs these as production dependencies: npm ci would skip an entry still marked dev.
    const { dev: _dev, ...kept } = entry;
    out[path] = kept;
    const next = { ...entry.dependencies, ...entry.optionalDependencies };
    for (const name of Object.keys(next)) queue.push(resolveIn(lock.packages, path, name));
  }
  return out;
}

/** npm's integrity string for a file. */
function integrity(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

/**
 * Writes package.json and package-lock.json of an ESM app in `appDir` depending on the tarball (which lies in
 * `appDir`'s parent), with the dependency entries taken from `repoRoot`'s lockfile.
 */
export function writeOfflineApp(appDir: string, tarball: string, repoRoot: string): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    name: string;
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as Lockfile;
  const spec = `file:../${basename(tarball)}`;
  const app = { name: "loratune-pack-test-app", version: "1.0.0", private: true, type: "module" };
  const appDeps = { [pkg.name]: spec };
  writeFileSync(join(appDir, "package.json"), JSON.stringify({ ...app, dependencies: appDeps }, null, 2));
  const packages: Record<string, LockEntry> = {
    "": { name: app.name, version: app.version, dependencies: appDeps },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: spec,
      integrity: integrity(tarball),
      dependencies: pkg.dependencies,
      bin: pkg.bin,
    },
    ...runtimeClosure(lock, pkg.dependencies),
  };
  const appLock = { name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(appDir, "package-lock.json"), JSON.stringify(appLock, null, 2));
}
