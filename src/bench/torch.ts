/**
 * The PyTorch side of `loratune bench`: bench_lora.py from loratune's PyTorch reference (kept beside the
 * repository, shared/reference/, never in the package) run by /usr/bin/python3 on a model directory holding the
 * same shape (random weights written by a bench worker), with the same batch, steps, LoRA settings and threads,
 * in two modes, each a column of the table: f32, and bf16 autocast (`--bf16`: torch.autocast("cpu", bfloat16), the
 * matmuls in bf16). glibc is told to keep freed memory (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=68719476736) so
 * PyTorch runs at its best, and OpenMP keeps its default wait policy (OMP_WAIT_POLICY removed from PyTorch's
 * environment) unless the run is marked as on a shared machine (--shared-machine: PASSIVE, whose sleeping threads
 * lose less to other processes but are slower on a quiet machine); the report says which. Optional: loratune never
 * needs Python. The reference is used only where it is given: --torch-reference or LORATUNE_TORCH_REFERENCE.
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

/** OpenMP's wait policy for PyTorch: its default (OMP_WAIT_POLICY unset), or PASSIVE (--shared-machine). */
export type TorchWaitPolicy = "default" | "passive";

/** bench_lora.py's two modes: f32, and bf16 autocast (--bf16). */
export type TorchMode = "f32" | "bf16";

export interface TorchSetup {
  python: string;
  referenceDir: string;
  /** torch.__version__ */
  version: string;
  waitPolicy: TorchWaitPolicy;
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
  autocast_bf16?: boolean;
  final_loss?: number;
}

/**
 * The environment PyTorch runs in: the caller's, glibc keeping freed memory, and OMP_WAIT_POLICY removed (OpenMP's
 * default) or PASSIVE.
 */
export function torchEnv(base: NodeJS.ProcessEnv, policy: TorchWaitPolicy): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, MALLOC_MMAP_MAX_: "0", MALLOC_TRIM_THRESHOLD_: "68719476736" };
  delete env.OMP_WAIT_POLICY;
  if (policy === "passive") env.OMP_WAIT_POLICY = "PASSIVE";
  return env;
}

/** Whether `python` imports torch and `referenceDir` has bench_lora.py; the reason when not. */
export function probeTorch(
  python: string,
  referenceDir: string | undefined,
  waitPolicy: TorchWaitPolicy = "default",
): TorchSetup | { reason: string } {
  if (referenceDir === undefined) return { reason: NO_REFERENCE };
  if (!existsSync(join(referenceDir, "bench_lora.py"))) {
    return { reason: `${join(referenceDir, "bench_lora.py")} not found` };
  }
  const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  if (r.error) return { reason: `${python}: ${r.error.message}` };
  if (r.status !== 0) return { reason: `${python} cannot import torch` };
  return { python, referenceDir, version: r.stdout.trim(), waitPolicy };
}

/**
 * Whether bench_lora.py measures `mode` for this workload: bf16 autocast covers training and prefill; its
 * --generate (decode) loop runs without autocast, so a bf16 decode would only repeat the f32 one.
 */
export function torchRuns(mode: TorchMode, kind: ModelWorkloadSpec["kind"]): boolean {
  return mode === "f32" || kind !== "decode";
}

/** bench_lora.py arguments for a workload spec, in f32 or bf16 autocast. */
export function torchArgs(
  spec: ModelWorkloadSpec,
  modelDir: string,
  threads: number,
  mode: TorchMode = "f32",
): string[] {
  const common = ["--steps", String(spec.steps), "--warmup", String(spec.warmup), "--threads", String(threads)];
  common.push("--seed", String(spec.seed));
  if (mode === "bf16") common.push("--bf16");
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

/** Runs bench_lora.py for one workload in `mode`; throws with its stderr tail when it fails. */
export async function runTorchWorkload(
  setup: TorchSetup,
  spec: ModelWorkloadSpec,
  modelDir: string,
  threads: number,
  mode: TorchMode = "f32",
): Promise<TorchResult> {
  const script = join(setup.referenceDir, "bench_lora.py");
  const args = [script, ...torchArgs(spec, modelDir, threads, mode)];
  const r = await runChild(setup.python, args, torchEnv(process.env, setup.waitPolicy), false);
  const line = lastJsonLine(r.stdout);
  if (r.status !== 0 || line === null) {
    const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
    const what = `${spec.shape} ${spec.kind}${mode === "bf16" ? " --bf16" : ""}`;
    throw new LoratuneError(
      "ERR_IO",
      `${script} failed for ${what} (exit ${r.status}): ${tail || r.error?.message || "no output"}`,
    );
  }
  return JSON.parse(line) as TorchResult;
}
