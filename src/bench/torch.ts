/**
 * The PyTorch side of `loratune bench`: bench_lora.py from loratune's PyTorch reference (kept beside the
 * repository, shared/reference/, never in the package) run by /usr/bin/python3 on a model directory holding the
 * same shape (random weights written by a bench worker), with the same batch, steps, LoRA settings and threads,
 * and glibc told to keep freed memory (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=68719476736) so PyTorch runs at
 * its best. Optional: loratune never needs Python. The reference is used only where it is given: --torch-reference
 * or LORATUNE_TORCH_REFERENCE.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { lastJsonLine, runChild } from "./spawn.ts";
import type { ModelWorkloadSpec } from "./spec.ts";

export const DEFAULT_PYTHON = "/usr/bin/python3";

/** The environment variable naming the reference's folder when --torch-reference is not given. */
export const TORCH_REFERENCE_ENV = "LORATUNE_TORCH_REFERENCE";

/** The reference folder: the flag, else LORATUNE_TORCH_REFERENCE, else none (no comparison). */
export function torchReferenceDir(flag: string | undefined): string | undefined {
  if (flag !== undefined && flag !== "") return flag;
  const env = process.env[TORCH_REFERENCE_ENV];
  return env === undefined || env === "" ? undefined : env;
}

/** Why there is no comparison when no reference was given, and how to give one. */
export const NO_REFERENCE =
  `no PyTorch reference given: pass --torch-reference DIR or set ${TORCH_REFERENCE_ENV}=DIR, a folder holding ` +
  "bench_lora.py (loratune's PyTorch reference, kept beside its repository in shared/reference/, not in the package)";

export interface TorchSetup {
  python: string;
  referenceDir: string;
  /** torch.__version__ */
  version: string;
}

/** What bench_lora.py prints (the fields the bench uses). */
export interface TorchResult {
  tokens_per_s: number;
  step_ms_median: number;
  step_ms: number[];
  peak_rss_mb: number;
  achieved_gflops: number;
  flops_per_token: number;
  other_procs_cores: number;
  torch_threads: number;
  blas: string[];
  final_loss?: number;
}

/** Whether `python` imports torch and `referenceDir` has bench_lora.py; the reason when not. */
export function probeTorch(python: string, referenceDir: string | undefined): TorchSetup | { reason: string } {
  if (referenceDir === undefined) return { reason: NO_REFERENCE };
  if (!existsSync(join(referenceDir, "bench_lora.py"))) {
    return { reason: `${join(referenceDir, "bench_lora.py")} not found` };
  }
  const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  if (r.error) return { reason: `${python}: ${r.error.message}` };
  if (r.status !== 0) return { reason: `${python} cannot import torch` };
  return { python, referenceDir, version: r.stdout.trim() };
}

/** bench_lora.py arguments for a workload spec. */
export function torchArgs(spec: ModelWorkloadSpec, modelDir: string, threads: number): string[] {
  const common = ["--steps", String(spec.steps), "--warmup", String(spec.warmup), "--threads", String(threads)];
  common.push("--seed", String(spec.seed));
  switch (spec.kind) {
    case "train": {
      const lora = ["--r", String(spec.r), "--alpha", String(spec.alpha)];
      if (spec.targets === "all-linear") lora.push("--all-linear");
      return [modelDir, "--B", String(spec.B), "--T", String(spec.T), ...lora, ...common];
    }
    case "prefill":
      return [modelDir, "--inference", "--B", String(spec.B), "--T", String(spec.T), ...common];
    case "decode":
      return [
        modelDir,
        "--generate",
        "--B",
        "1",
        "--T",
        String(Math.max(spec.T, spec.promptTokens)),
        "--prompt",
        String(spec.promptTokens),
        "--gen-tokens",
        String(spec.genTokens),
        ...common,
      ];
  }
}

/** Runs bench_lora.py for one workload; throws with its stderr tail when it fails. */
export async function runTorchWorkload(
  setup: TorchSetup,
  spec: ModelWorkloadSpec,
  modelDir: string,
  threads: number,
): Promise<TorchResult> {
  const script = join(setup.referenceDir, "bench_lora.py");
  const env = { ...process.env, MALLOC_MMAP_MAX_: "0", MALLOC_TRIM_THRESHOLD_: "68719476736" };
  const r = await runChild(setup.python, [script, ...torchArgs(spec, modelDir, threads)], env, false);
  const line = lastJsonLine(r.stdout);
  if (r.status !== 0 || line === null) {
    const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new LoratuneError(
      "ERR_IO",
      `${script} failed for ${spec.shape} ${spec.kind} (exit ${r.status}): ${tail || r.error?.message || "no output"}`,
    );
  }
  return JSON.parse(line) as TorchResult;
}
