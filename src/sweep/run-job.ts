/**
 * Runs one sweep job in a child process (trial-worker.ts, through tsx in a checkout, compiled in the package) with
 * the sweep's kernel threads, and reads its result back from the trial's run directory: the evaluation at the
 * rung's step (metrics.jsonl), the adapter's size, and the child's own figures (tokens/s, peak memory).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrainOptions } from "../api/train-types.ts";
import { lastJsonLine, runChild } from "../bench/spawn.ts";
import { LoratuneError } from "../errors.ts";
import { readMetrics } from "../report/metrics.ts";
import type { Job, JobResult } from "./state.ts";

const FROM_SOURCES = import.meta.url.endsWith(".ts");
const WORKER = fileURLToPath(new URL(FROM_SOURCES ? "./trial-worker.ts" : "./trial-worker.js", import.meta.url));
const LOADER = FROM_SOURCES ? ["--import", import.meta.resolve("tsx")] : [];

export interface JobRun {
  options: TrainOptions;
  threads: number;
}

/** Runs the job to its rung step; resolves with its result, or rejects with the child's last error line. */
export async function runJob(job: Job, run: JobRun): Promise<JobResult> {
  const spec = { options: run.options, stopAt: job.toStep, resume: job.fromStep > 0 };
  const env = { ...process.env, LORATUNE_THREADS: String(run.threads) };
  const started = performance.now();
  const r = await runChild(process.execPath, [...LOADER, WORKER, JSON.stringify(spec)], env, false);
  const line = lastJsonLine(r.stdout);
  if (r.status !== 0 || line === null) {
    const why =
      r.stderr.trim().split("\n").filter(Boolean).at(-1) ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
    throw new LoratuneError("ERR_IO", why.replace(/^loratune: /, ""));
  }
  const out = JSON.parse(line) as Record<string, number>;
  return {
    ...evalAt(run.options.out, job.toStep),
    tokensPerS: out.tokens_per_s ?? 0,
    peakRssMb: out.peak_rss_mb ?? 0,
    trainableParams: out.trainable_params ?? 0,
    adapterBytes: fileSize(join(run.options.out, "adapter_model.safetensors")),
    wallS: (performance.now() - started) / 1000,
  };
}

/** The evaluation the trial ran at `step` (its last one when a run ended earlier, e.g. a shorter epoch). */
function evalAt(dir: string, step: number): Pick<JobResult, "valLoss" | "exactMatch" | "tokenAccuracy"> {
  const evals = readMetrics(join(dir, "metrics.jsonl")).filter((r) => r.type === "eval" && r.step <= step);
  const row = evals.at(-1);
  if (!row || row.val_loss === undefined)
    throw new LoratuneError("ERR_IO", `${dir}: no evaluation at step ${step} in metrics.jsonl`);
  return {
    valLoss: row.val_loss,
    ...(row.exact_match !== undefined ? { exactMatch: row.exact_match } : {}),
    ...(row.token_accuracy !== undefined ? { tokenAccuracy: row.token_accuracy } : {}),
  };
}

const fileSize = (path: string) => (existsSync(path) ? statSync(path).size : 0);
