/**
 * Issue 13, "loratune as a real npm package": `npm pack` the repository as a release would (compiled dist/,
 * prebuilt native kernels), install the tarball into a fresh app with install scripts disabled and offline, then
 * use it as a user would: plain Node ESM imports it and trains, a strict TypeScript consumer type-checks against
 * its .d.ts, `npx loratune` runs on the native kernels, and with no binary for the platform every computing
 * command says so once, with the fix.
 *
 * Skips (saying why) only where the package cannot be built here: no npm, not Linux, an architecture without
 * prebuilt binaries, or no C++ compiler. The arm64 binary needs Debian's g++-aarch64-linux-gnu; without it only
 * this machine's binary is packed. With LORATUNE_REQUIRE_NATIVE=1 (CI, whose .ci/run installs the cross
 * compiler) none of these may be missing: the suite fails instead of skipping.
 */
import assert from "node:assert/strict";
import { type SpawnSyncOptions, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { platformTag } from "../../src/kernels/native/locate.ts";
import { ROOT } from "../helpers/cli.ts";
import { writeOfflineApp } from "../helpers/offline-app.ts";

const REQUIRE = process.env.LORATUNE_REQUIRE_NATIVE === "1";
const PREBUILT_ARCHS = ["x64", "arm64"];
const CROSS_GXX: Record<string, string> = { x64: "x86_64-linux-gnu-g++", arm64: "aarch64-linux-gnu-g++" };

/** Runs a command; the environment without LORATUNE_* settings from outside (the test sets its own). */
function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LORATUNE_")));
  const r = spawnSync(cmd, args, { encoding: "utf8", env, ...opts });
  return { code: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), error: r.error };
}

/** Runs a command and asserts it succeeded; returns its stdout. */
function ok(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed: ${r.error?.message ?? ""}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const works = (cmd: string) => sh(cmd, ["--version"]).code === 0;

/** Orders dotted version numbers ([2, 29] < [2, 29, 1] < [2, 30]). */
function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Why this machine cannot build the package (undefined when it can); the architectures it can build. */
function capability(): { reason?: string; archs: string[] } {
  if (!works("npm")) return { reason: "npm is not on PATH", archs: [] };
  if (process.platform !== "linux") return { reason: `prebuilt binaries are built on Linux only`, archs: [] };
  if (!PREBUILT_ARCHS.includes(process.arch)) return { reason: `no prebuilt binaries for ${process.arch}`, archs: [] };
  if (!works("g++")) return { reason: "no C++ compiler (g++) to build the native addon", archs: [] };
  const cross = PREBUILT_ARCHS.filter((a) => a !== process.arch);
  const missing = cross.filter((a) => !works(CROSS_GXX[a]!));
  if (missing.length > 0) {
    const note = `${missing.map((a) => CROSS_GXX[a]).join(", ")} not installed: packing without ${missing.join(", ")}`;
    if (REQUIRE) return { reason: `LORATUNE_REQUIRE_NATIVE=1, but ${note}`, archs: [] };
    console.log(`# package test: ${note}`);
  }
  return { archs: PREBUILT_ARCHS.filter((a) => !missing.includes(a)) };
}

/** What a plain-Node user writes: import the package, train 5 steps on the bundled demo model. */
const TRAIN_MJS = `import { getKernels, train } from "loratune";
const [out, data] = process.argv.slice(2);
const r = await train({ model: "demo", data, out, steps: 5, batchSize: 2, seqLen: 64, rank: 4 });
console.log(JSON.stringify({ backend: getKernels().name, steps: r.steps, lastLoss: r.lastLoss }));
`;

/** A TypeScript consumer; the @ts-expect-error fails the check if the package's types were missing or \`any\`. */
const CONSUMER_TS = `import { getKernels, LoratuneError, type TrainOptions, train } from "loratune";
const options: TrainOptions = { model: "demo", data: "data.jsonl", out: "run-ts", steps: 5 };
const outcome = await train(options);
const steps: number = outcome.steps;
// @ts-expect-error steps is a number
const wrong: string = outcome.steps;
const backend: string = getKernels().name;
const err: Error = new LoratuneError("ERR_USAGE", "an example");
console.log(steps, wrong, backend, err.message);
`;

const DEMO_ROW = JSON.stringify({
  prompt: "Sentence: Lila the farmer lives in Bellcross and owns a red scarf.\nCard:\n",
  completion: "name: Lila, job: farmer, town: Bellcross, item: scarf",
});

/**
 * `npm ci` in the app with install scripts disabled, offline: every package comes from the tarball and npm's cache
 * (filled by the repository's own `npm ci`). A cache that lacks one (cleaned since) falls back to the registry.
 */
function installApp(): void {
  const args = ["ci", "--ignore-scripts", "--no-audit", "--no-fund"];
  const offline = sh("npm", [...args, "--offline"], { cwd: app });
  if (offline.code === 0) return;
  assert.match(offline.stderr, /ENOTCACHED/, `npm ci --offline failed:\n${offline.stderr}`);
  console.log("# package test: npm's cache lacks a dependency; installing with --prefer-offline");
  ok("npm", [...args, "--prefer-offline"], { cwd: app });
}

const can = capability();
const work = mkdtempSync(join(tmpdir(), "loratune-pack-"));
const app = join(work, "app");
const installed = join(app, "node_modules", "loratune");
after(() => rmSync(work, { recursive: true, force: true }));

// Under LORATUNE_REQUIRE_NATIVE=1 a missing requirement fails the suite (in before) instead of skipping it.
describe("the npm package", { skip: REQUIRE ? false : can.reason }, () => {
  let files: string[] = [];
  const npx = (...args: string[]) => sh("npx", ["--offline", "loratune", ...args], { cwd: app });

  before(() => {
    assert.equal(can.reason, undefined, can.reason);
    const started = performance.now();
    ok("npm", ["run", "build"], { cwd: ROOT });
    rmSync(join(ROOT, "prebuilds"), { recursive: true, force: true });
    ok(process.execPath, [join(ROOT, "scripts", "build-prebuilds.mjs"), "--arch", can.archs.join(",")], { cwd: ROOT });
    const packed = JSON.parse(
      ok("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: ROOT }),
    ) as { filename: string; size: number; files: { path: string }[] }[];
    const tarball = join(work, packed[0]!.filename);
    files = packed[0]!.files.map((f) => f.path);
    mkdirSync(app);
    writeOfflineApp(app, tarball, ROOT);
    installApp();
    writeFileSync(join(app, "data.jsonl"), `${Array(8).fill(DEMO_ROW).join("\n")}\n`);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `# package test: ${(packed[0]!.size / 2 ** 20).toFixed(1)} MiB tarball, packed and installed in ${seconds} s`,
    );
  });

  it("holds the compiled library, the CLI, the binaries and the demo model, and no development files", () => {
    for (const f of ["dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "bin/loratune.js", "README.md"]) {
      assert.ok(files.includes(f), f);
    }
    assert.ok(files.includes("models/demo/model.safetensors"));
    for (const arch of can.archs) assert.ok(files.includes(`prebuilds/linux-${arch}/loratune_native.node`), arch);
    // Building from source stays possible: the C++ sources and the build script travel along.
    assert.ok(files.includes("binding.gyp") && files.includes("scripts/build-native.mjs"));
    const dev = files.filter(
      (f) =>
        /^(src|test|bench|docs|build|\.ci)\//.test(f) ||
        (f.startsWith("scripts/") && !/^scripts\/(build-native|node-gyp)\.mjs$/.test(f)) ||
        (f.endsWith(".ts") && !f.endsWith(".d.ts")) ||
        f.includes("/pretraining/") ||
        /^tsconfig|^biome/.test(f),
    );
    assert.deepEqual(dev, []);
  });

  it("ships binaries that ask for no newer glibc than 2.29 and no newer libstdc++ than GCC 6's", () => {
    const newest = (versions: string[]) =>
      versions
        .map((v) => v.split(".").map(Number))
        .sort(compareVersions)
        .at(-1);
    for (const arch of can.archs) {
      const dynamic = ok("objdump", ["-T", join(installed, "prebuilds", `linux-${arch}`, "loratune_native.node")]);
      const glibc = [...dynamic.matchAll(/\(GLIBC_([0-9.]+)\)/g)].map((m) => m[1]!);
      const glibcxx = [...dynamic.matchAll(/\(GLIBCXX_([0-9.]+)\)/g)].map((m) => m[1]!);
      assert.ok(compareVersions(newest(glibc)!, [2, 29]) <= 0, `${arch}: GLIBC_${newest(glibc)?.join(".")}`);
      assert.ok(compareVersions(newest(glibcxx)!, [3, 4, 22]) <= 0, `${arch}: GLIBCXX_${newest(glibcxx)?.join(".")}`);
    }
  });

  it("trains 5 steps on the native kernels from plain Node ESM", () => {
    writeFileSync(join(app, "train.mjs"), TRAIN_MJS);
    const run = sh(process.execPath, ["train.mjs", "run-esm", "data.jsonl"], { cwd: app });
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /native kernels unavailable/);
    const out = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as {
      backend: string;
      steps: number;
      lastLoss: number;
    };
    assert.equal(out.backend, "native");
    assert.equal(out.steps, 5);
    assert.ok(Number.isFinite(out.lastLoss));
  });

  it("type-checks a TypeScript consumer under tsc --strict --module nodenext", () => {
    writeFileSync(join(app, "consumer.ts"), CONSUMER_TS);
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const typeRoots = join(ROOT, "node_modules", "@types");
    const args = ["--strict", "--module", "nodenext", "--noEmit", "--types", "node", "--typeRoots", typeRoots];
    ok(process.execPath, [tsc, ...args, "consumer.ts"], { cwd: app });
  });

  it("runs `npx loratune` on the binary prebuilt for this platform", () => {
    assert.match(ok("npx", ["--offline", "loratune", "--help"], { cwd: app }), /Usage: loratune/);
    const sys = npx("inspect", "--system", "--json");
    assert.equal(sys.code, 0, sys.stderr);
    const report = JSON.parse(sys.stdout) as { backend: string; addon: string };
    assert.equal(report.backend, "native");
    assert.equal(report.addon, join(installed, "prebuilds", platformTag(), "loratune_native.node"));
  });

  it("says once, with the fix, when no binary fits this platform (commands and library callers)", () => {
    rmSync(join(installed, "prebuilds", platformTag()), { recursive: true });
    const gen = npx("generate", "--model", "demo", "--prompt-ids", "1,2", "--max-tokens", "2", "--json");
    assert.equal(gen.code, 0, gen.stderr);
    const warnings = gen.stderr.split("\n").filter((l) => l.includes("native kernels unavailable"));
    assert.equal(warnings.length, 1, gen.stderr);
    assert.match(warnings[0]!, new RegExp(`no binary for ${platformTag()}`));
    assert.ok(warnings[0]!.includes(`'npm --prefix ${installed} run build:native'`), warnings[0]);
    const sys = npx("inspect", "--system", "--json");
    assert.equal((JSON.parse(sys.stdout) as { backend: string }).backend, "ref");
    // A library caller hears it too, once, as a process warning.
    const lib = sh(process.execPath, ["train.mjs", "run-fallback", "data.jsonl"], { cwd: app });
    assert.equal(lib.code, 0, lib.stderr);
    assert.equal((JSON.parse(lib.stdout.trim().split("\n").at(-1)!) as { backend: string }).backend, "ref");
    const said = lib.stderr.split("\n").filter((l) => l.includes("native kernels unavailable"));
    assert.equal(said.length, 1, lib.stderr);
    assert.match(said[0]!, /\[NATIVE_KERNELS_MISSING\] LoratuneWarning: .*no binary for .*Fix: build them with/);
  });
});
