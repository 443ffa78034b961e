/**
 * Runs fuzz cases in this process: case i of a run with seed s picks a seed input, corrupts one of its files
 * (or deletes it) with stacked mutators, writes the directory and runs the target's loader. Outcomes:
 *
 *   ok          the loader accepted the input and what it returned passed the target's checks
 *   typed       a LoratuneError (counted per code) whose message names the case directory or a file in it
 *   failure     anything else: a plain Error/TypeError/RangeError (a crash), a LoratuneError that names no
 *               file, an InvariantError (garbage accepted), a case slower than `slowMs`, or one whose peak
 *               resident memory grew by more than `memLimitBytes`
 *
 * A case is reproducible from (target, seed, index): `replayCase` rebuilds its files for inspection.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isLoratuneError } from "../../src/errors.ts";
import { Rng } from "../../src/tensor/rng.ts";
import type { Seed } from "./corpus.ts";
import { caseSeed, mutate, pick } from "./mutators.ts";
import { type FuzzTarget, mutatorsFor } from "./targets.ts";

export interface FuzzOptions {
  seed: number;
  /** First case index and number of cases. */
  start?: number;
  count: number;
  /** Scratch directory for the case files (created; emptied per case). */
  workDir: string;
  /**
   * A case taking longer than slowMs + slowMsPerKiB × (KiB of case files) is a failure (defaults 3000 ms and
   * 20 ms/KiB): work linear in the input passes, a superlinear blowup on a large input does not.
   */
  slowMs?: number;
  slowMsPerKiB?: number;
  /** Peak-RSS growth during one case above this is a failure (default 512 MiB). Linux only. */
  memLimitBytes?: number;
  /** Called before each case (the long runner's watchdog heartbeat) and with each case's outcome. */
  onCase?: (index: number) => void;
  onOutcome?: (outcome: CaseOutcome) => void;
}

export interface FuzzFailure {
  target: string;
  index: number;
  kind: "crash" | "untyped-message" | "invariant" | "slow" | "memory" | "hang";
  detail: string;
  /** Seed input name, mutated file, and how long the case took. */
  seedName: string;
  file: string;
  ms: number;
}

export interface FuzzStats {
  target: string;
  cases: number;
  ok: number;
  typed: Record<string, number>;
  failures: FuzzFailure[];
  maxMs: number;
  /** Largest peak-RSS growth over one case (bytes), when measurable. */
  maxMemGrowth: number;
}

/** The files of case `index` and which file was corrupted (deleted when `deleted`). */
export function buildCase(
  seeds: Seed[],
  seed: number,
  index: number,
): { seed: Seed; file: string; deleted: boolean; files: Record<string, Uint8Array> } {
  const rng = new Rng(caseSeed(seed, index));
  const s = pick(rng, seeds);
  const file = pick(rng, Object.keys(s.files).sort());
  const files = { ...s.files };
  const deleted = rng.nextInt(40) === 0;
  if (deleted) delete files[file];
  else files[file] = mutate(rng, s.files[file]!, mutatorsFor(file));
  return { seed: s, file, deleted, files };
}

/** Writes case `index` into `dir` (for reproducing a failure by hand). */
export function replayCase(target: FuzzTarget, seed: number, index: number, dir: string): void {
  writeCase(dir, buildCase(target.seeds(), seed, index).files);
}

function writeCase(dir: string, files: Record<string, Uint8Array>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
}

/** What one case ended in: "ok", a LoratuneError code, plus any failures it showed. */
export interface CaseOutcome {
  index: number;
  result: string;
  failures: FuzzFailure[];
  ms: number;
  memGrowth: number;
}

export function runFuzz(target: FuzzTarget, o: FuzzOptions): FuzzStats {
  const seeds = target.seeds();
  const stats = emptyStats(target.name);
  const start = o.start ?? 0;
  for (let i = start; i < start + o.count; i++) {
    o.onCase?.(i);
    const outcome = runCase(target, seeds, o, i);
    addOutcome(stats, outcome);
    o.onOutcome?.(outcome);
  }
  return stats;
}

function runCase(target: FuzzTarget, seeds: Seed[], o: FuzzOptions, i: number): CaseOutcome {
  const memLimit = o.memLimitBytes ?? 512 * 2 ** 20;
  const c = buildCase(seeds, o.seed, i);
  const kib = Object.values(c.files).reduce((n, b) => n + b.length, 0) / 1024;
  const slowMs = (o.slowMs ?? 3000) + (o.slowMsPerKiB ?? 20) * kib;
  const dir = join(o.workDir, `${target.name}-case`);
  writeCase(dir, c.files);
  const rss0 = resetPeakRss();
  const t0 = performance.now();
  let error: unknown = null;
  try {
    target.run(dir, c.seed);
  } catch (err) {
    error = err;
  }
  const ms = performance.now() - t0;
  const memGrowth = rss0 === null ? 0 : Math.max(0, (peakRss() ?? rss0) - rss0);
  const failures: FuzzFailure[] = [];
  const fail = (kind: FuzzFailure["kind"], detail: string) =>
    failures.push({ target: target.name, index: i, kind, detail, seedName: c.seed.name, file: c.file, ms });
  let result = "ok";
  if (isLoratuneError(error)) {
    result = error.code;
    if (!error.message.includes(dir)) fail("untyped-message", `${error.code}: ${error.message.slice(0, 300)}`);
  } else if (error instanceof Error && error.name === "InvariantError") {
    result = "invariant";
    fail("invariant", error.message);
  } else if (error !== null) {
    result = "crash";
    fail("crash", describeError(error));
  }
  if (ms > slowMs) fail("slow", `${ms.toFixed(0)} ms for ${kib.toFixed(0)} KiB of input`);
  if (memGrowth > memLimit) fail("memory", `peak RSS grew by ${(memGrowth / 2 ** 20).toFixed(0)} MiB`);
  return { index: i, result, failures, ms, memGrowth };
}

/** Counts one case into `stats`. */
export function addOutcome(stats: FuzzStats, c: CaseOutcome): void {
  stats.cases++;
  if (c.result === "ok") stats.ok++;
  else if (/^ERR_/.test(c.result)) stats.typed[c.result] = (stats.typed[c.result] ?? 0) + 1;
  stats.failures.push(...c.failures);
  stats.maxMs = Math.max(stats.maxMs, c.ms);
  stats.maxMemGrowth = Math.max(stats.maxMemGrowth, c.memGrowth);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-Error thrown: ${String(err)}`;
  const frame = err.stack?.split("\n").find((l) => l.includes("/src/")) ?? "";
  return `${err.name}: ${err.message.slice(0, 300)} ${frame.trim()}`;
}

// Peak resident memory per case: writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS.
let procUsable: boolean | null = null;

function resetPeakRss(): number | null {
  if (procUsable === false) return null;
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    procUsable = true;
    return peakRss();
  } catch {
    procUsable = false;
    return null;
  }
}

function peakRss(): number | null {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : null;
}

export function emptyStats(target: string): FuzzStats {
  return { target, cases: 0, ok: 0, typed: {}, failures: [], maxMs: 0, maxMemGrowth: 0 };
}
