/**
 * Long fuzz run of the file loaders (`npm run fuzz`): for each target (safetensors, model, adapter, gguf-adapter,
 * gguf-model, jsonl, tokenizer) a worker process runs `--cases` mutated inputs (test/fuzz/) and reports every case that ended in
 * anything but success or a typed LoratuneError naming the file. A watchdog kills a worker that makes no
 * progress for `--hang-ms` (a hang) or whose resident memory passes `--rss-mb` (out of memory), records that
 * case and restarts the worker after it, so one bad case never hides the rest. A case slower than `--slow-ms`
 * plus 20 ms per KiB of input, or whose peak RSS grows by more than `--case-mem-mb`, also fails.
 *
 *   npm run fuzz                                  10000 cases per target, seed 1
 *   npm run fuzz -- --cases 50000 --seed 7 --targets jsonl,adapter --jobs 2
 *   npm run fuzz -- --replay adapter 1234 /tmp/case   write case 1234 (seed from --seed) into /tmp/case
 *
 * Exit status 0 when no case failed, 1 otherwise.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  addOutcome,
  type CaseOutcome,
  emptyStats,
  type FuzzFailure,
  type FuzzStats,
  replayCase,
  runFuzz,
} from "../test/fuzz/harness.ts";
import { TARGETS } from "../test/fuzz/targets.ts";

interface Settings {
  cases: number;
  seed: number;
  targets: string[];
  jobs: number;
  hangMs: number;
  slowMs: number;
  caseMemMb: number;
  rssMb: number;
}

type WorkerMessage = { type: "case"; index: number } | { type: "outcome"; outcome: CaseOutcome } | { type: "done" };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    cases: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    targets: { type: "string", default: TARGETS.map((t) => t.name).join(",") },
    jobs: { type: "string", default: String(Math.max(1, availableParallelism())) },
    "hang-ms": { type: "string", default: "60000" },
    "slow-ms": { type: "string", default: "3000" },
    "case-mem-mb": { type: "string", default: "1024" },
    "rss-mb": { type: "string", default: "4096" },
    worker: { type: "string" },
    start: { type: "string", default: "0" },
    replay: { type: "string" },
  },
});

const settings: Settings = {
  cases: Number(values.cases),
  seed: Number(values.seed),
  targets: String(values.targets).split(","),
  jobs: Number(values.jobs),
  hangMs: Number(values["hang-ms"]),
  slowMs: Number(values["slow-ms"]),
  caseMemMb: Number(values["case-mem-mb"]),
  rssMb: Number(values["rss-mb"]),
};

function targetNamed(name: string) {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown target "${name}" (targets: ${TARGETS.map((x) => x.name).join(", ")})`);
  return t;
}

/** Worker mode: run cases [start, start + cases) of one target, reporting each case index before it runs. */
function workerMain(name: string): void {
  console.warn = () => {}; // the tokenizer library warns about every odd config it meets; the outcomes say enough
  const workDir = mkdtempSync(join(tmpdir(), `lt-fuzz-${name}-`));
  try {
    runFuzz(targetNamed(name), {
      seed: settings.seed,
      start: Number(values.start),
      count: settings.cases,
      workDir,
      slowMs: settings.slowMs,
      memLimitBytes: settings.caseMemMb * 2 ** 20,
      onCase: (index) => process.send?.({ type: "case", index } satisfies WorkerMessage),
      onOutcome: (outcome) => process.send?.({ type: "outcome", outcome } satisfies WorkerMessage),
    });
    process.send?.({ type: "done" } satisfies WorkerMessage, () => process.exit(0));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Resident memory of a process in bytes (Linux), or 0 when unknown. */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs cases [start, end) of a target in a worker, counting each reported outcome into `stats`; resolves with
 * the index to continue from (end, or the case after the one that killed the worker).
 */
function runChunk(name: string, start: number, end: number, stats: FuzzStats): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ["--worker", name, "--start", String(start), "--cases", String(end - start)];
    for (const key of ["seed", "slow-ms", "case-mem-mb"] as const) args.push(`--${key}`, String(values[key]));
    const child: ChildProcess = fork(import.meta.filename, args, {
      execArgv: ["--import", "tsx", "--max-old-space-size=2048"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let current = start - 1;
    let lastProgress = Date.now();
    let verdict: { kind: FuzzFailure["kind"]; detail: string } | null = null;
    let done = false;
    child.on("message", (m: WorkerMessage) => {
      lastProgress = Date.now();
      if (m.type === "case") current = m.index;
      else if (m.type === "outcome") addOutcome(stats, m.outcome);
      else done = true;
    });
    const watchdog = setInterval(() => {
      const rss = child.pid ? rssOf(child.pid) : 0;
      // Before its first case the worker is loading modules and building seeds: allow a minute for that.
      const limit = current < start ? Math.max(settings.hangMs, 60_000) : settings.hangMs;
      if (Date.now() - lastProgress > limit) {
        verdict = { kind: "hang", detail: `no progress for ${limit} ms` };
      } else if (rss > settings.rssMb * 2 ** 20) {
        verdict = { kind: "memory", detail: `worker RSS ${(rss / 2 ** 20).toFixed(0)} MiB > ${settings.rssMb} MiB` };
      }
      if (verdict) child.kill("SIGKILL");
    }, 100);
    child.on("exit", (code, signal) => {
      clearInterval(watchdog);
      if (done) return resolve(end);
      if (current < start) {
        reject(new Error(`the ${name} worker failed before its first case (code ${code}, signal ${signal})`));
        return;
      }
      // The worker died (or was killed) inside case `current`: one failed case; continue after it.
      const detail = verdict?.detail ?? `worker exited (code ${code}, signal ${signal}): a crash or an OOM abort`;
      const failure: FuzzFailure = {
        target: name,
        index: current,
        kind: verdict?.kind ?? "crash",
        detail,
        seedName: "?",
        file: "?",
        ms: 0,
      };
      addOutcome(stats, { index: current, result: failure.kind, failures: [failure], ms: 0, memGrowth: 0 });
      resolve(current + 1);
    });
  });
}

/** All cases of one target, restarting the worker after each case that killed it. */
async function runTarget(name: string): Promise<FuzzStats> {
  const stats = emptyStats(name);
  for (let next = 0; next < settings.cases; ) next = await runChunk(name, next, settings.cases, stats);
  return stats;
}

function report(all: FuzzStats[], seconds: number): number {
  console.log(`\nfuzz: seed ${settings.seed}, ${settings.cases} cases per target, ${seconds.toFixed(0)} s`);
  console.log("target        cases      ok   typed  failures  max ms  max case RSS growth  typed errors by code");
  for (const s of all) {
    const typed = Object.values(s.typed).reduce((a, b) => a + b, 0);
    const codes = Object.entries(s.typed)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ");
    const cells = [
      s.target.padEnd(12),
      String(s.cases).padStart(6),
      String(s.ok).padStart(7),
      String(typed).padStart(7),
      String(s.failures.length).padStart(9),
      s.maxMs.toFixed(0).padStart(7),
      `${(s.maxMemGrowth / 2 ** 20).toFixed(0)} MiB`.padStart(20),
    ];
    console.log(`${cells.join(" ")}  ${codes}`);
  }
  const failures = all.flatMap((s) => s.failures);
  for (const f of failures.slice(0, 30)) {
    console.log(
      `FAIL ${f.target} case ${f.index} [${f.kind}] ${f.seedName}/${f.file} (${f.ms.toFixed(0)} ms): ${f.detail}`,
    );
    console.log(`     replay: npm run fuzz -- --seed ${settings.seed} --replay ${f.target} ${f.index} /tmp/case`);
  }
  if (failures.length > 30) console.log(`… ${failures.length - 30} more failures`);
  console.log(failures.length === 0 ? "fuzz: no crashes, hangs or OOMs" : `fuzz: ${failures.length} failing cases`);
  return failures.length === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  if (values.worker) {
    workerMain(values.worker);
    return 0;
  }
  if (values.replay) {
    const [index, dir] = positionals;
    replayCase(targetNamed(values.replay), settings.seed, Number(index), dir ?? "/tmp/case");
    console.log(`case ${index} of ${values.replay} (seed ${settings.seed}) written to ${dir ?? "/tmp/case"}`);
    return 0;
  }
  settings.targets.forEach(targetNamed);
  const t0 = performance.now();
  const queue = [...settings.targets];
  const results = new Map<string, FuzzStats>();
  const lanes = Array.from({ length: Math.min(settings.jobs, queue.length) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const started = performance.now();
      results.set(name, await runTarget(name));
      console.log(`fuzz: ${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  });
  await Promise.all(lanes);
  const ordered = settings.targets.map((n) => results.get(n)!);
  return report(ordered, (performance.now() - t0) / 1000);
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`fuzz: ${(err as Error).message}`);
  process.exitCode = 2;
}
