/**
 * The bench run: the matmul peak (again at the end; the better sample counts), then for each shape each workload in its own worker process, each followed
 * at once by the same workload under PyTorch when it is compared (side by side in time, so both see the same
 * machine load). Defaults keep a full run (tiny, small, smollm135, with PyTorch) within about ten minutes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { BANDWIDTH_ARRAY_MIB, QUICK_BANDWIDTH_ARRAY_MIB } from "./bandwidth.ts";
import { type LlamaCppSetup, probeLlamaCpp, runLlamaCppDecode } from "./llama-cpp.ts";
import { PEAK_SIZES, QUICK_PEAK_SIZES } from "./peak.ts";
import { killActiveChildren, runWorker } from "./spawn.ts";
import type { ModelWorkloadSpec, PeakResult, WorkloadResult } from "./spec.ts";
import { probeTorch, runTorchWorkload, type TorchResult, type TorchSetup } from "./torch.ts";

/** train = LoRA on q,k,v,o; train-all = LoRA on every linear; prefill; decode. */
export type WorkloadName = "train" | "train-all" | "prefill" | "decode";
export const WORKLOAD_NAMES: readonly WorkloadName[] = ["train", "train-all", "prefill", "decode"];

export interface BenchOptions {
  shapes: string[];
  workloads: WorkloadName[];
  /** In-memory dtypes of the base weights; each workload runs once per dtype (PyTorch once, in f32). */
  dtypes: StorageDType[];
  /** Timed runs and warm-up runs; undefined = per-shape defaults. */
  steps?: number;
  warmup?: number;
  threads?: number;
  /** auto: compare when PyTorch is there; on: required (--vs-torch); off: never. */
  torch: "auto" | "on" | "off";
  quick: boolean;
  profile: boolean;
  /** Training workloads with activation checkpointing. */
  gradCheckpoint: boolean;
  /** Refuse a training workload whose memory estimate exceeds the memory available (default true). */
  memoryCheck?: boolean;
  /** LoRA rank of the training workloads (alpha = 2·rank); default 8. */
  rank?: number;
  /** Batch rows and sequence length of training and prefill; defaults 4 × 256 (--quick: 2 × 64). */
  batchSize?: number;
  seqLen?: number;
  /** auto (default): llama.cpp decodes the decode rows' weights as GGUF when node-llama-cpp loads; off: never. */
  llamaCpp?: "auto" | "off";
  python: string;
  /** bench_lora.py's folder; undefined when none was given (no comparison, saying how to give one). */
  referenceDir: string | undefined;
  onProgress?: (line: string) => void;
}

export interface BenchRow {
  shape: string;
  workload: WorkloadName;
  /** Base-weight dtype of loratune's run (PyTorch always runs f32). */
  dtype: StorageDType;
  ours: WorkloadResult | null;
  error?: string;
  torch: TorchResult | null;
  torchError?: string;
  /** loratune tokens/s ÷ PyTorch (f32) tokens/s. */
  ratio: number | null;
  /** Decode rows: llama.cpp on the same weights as GGUF in the row's dtype, same threads (llama-cpp.ts). */
  llamaCpp?: { tokensPerS: number; runMs: number[] };
  llamaCppError?: string;
  /** loratune tokens/s ÷ llama.cpp tokens/s. */
  llamaCppRatio?: number;
}

export interface BenchReport {
  peak: PeakResult;
  /** ompWaitPolicy: OMP_WAIT_POLICY passed on to PyTorch from the environment (PASSIVE helps on a busy machine). */
  torch: { version: string; python: string; ompWaitPolicy: string | null } | { unavailable: string } | null;
  /** llama.cpp's release, why it was not compared, or null when not asked (--no-llama-cpp, or no decode row). */
  llamaCpp?: { version: string } | { unavailable: string } | null;
  settings: {
    dtypes: StorageDType[];
    quick: boolean;
    threads: number;
    B: number;
    T: number;
    /** LoRA rank (alpha is twice it). */
    rank: number;
    gradCheckpoint: boolean;
  };
  rows: BenchRow[];
  totalS: number;
}

/**
 * Timed/warm-up runs per shape: a smollm135 training step of 1024 tokens takes seconds, a Llama-3.2-1B step of
 * 2048 tokens a minute or more on two cores, a Llama-3.1-8B one several.
 */
const SHAPE_RUNS: Record<string, { steps: number; warmup: number }> = {
  tiny: { steps: 5, warmup: 2 },
  small: { steps: 5, warmup: 2 },
  smollm135: { steps: 3, warmup: 1 },
  "llama-3.2-1b": { steps: 2, warmup: 1 },
  "llama-3.1-8b": { steps: 1, warmup: 1 },
};

export function workloadSpec(
  shape: string,
  workload: WorkloadName,
  o: BenchOptions,
  dtype: StorageDType = o.dtypes[0] ?? "f32",
): ModelWorkloadSpec {
  const runs = o.quick ? { steps: 2, warmup: 1 } : (SHAPE_RUNS[shape] ?? { steps: 3, warmup: 1 });
  return {
    kind: workload === "train-all" ? "train" : workload,
    shape,
    dtype,
    targets: workload === "train-all" ? "all-linear" : "qkvo",
    r: o.rank ?? 8,
    alpha: 2 * (o.rank ?? 8),
    B: o.batchSize ?? (o.quick ? 2 : 4),
    T: o.seqLen ?? (o.quick ? 64 : 256),
    promptTokens: o.quick ? 8 : 16,
    genTokens: o.quick ? 8 : 64,
    steps: o.steps ?? runs.steps,
    warmup: o.warmup ?? runs.warmup,
    profile: o.profile && workload.startsWith("train"),
    gradCheckpoint: o.gradCheckpoint && workload.startsWith("train"),
    ...(o.memoryCheck === false ? { memoryCheck: false } : {}),
    seed: 0,
  };
}

function setupTorch(o: BenchOptions, say: (s: string) => void): BenchReport["torch"] {
  if (o.torch === "off") return null;
  const probe = probeTorch(o.python, o.referenceDir);
  if ("reason" in probe) {
    if (o.torch === "on") throw new LoratuneError("ERR_UNSUPPORTED", `--vs-torch: ${probe.reason}`);
    say(`PyTorch comparison skipped: ${probe.reason}`);
    return { unavailable: probe.reason };
  }
  return { version: probe.version, python: probe.python, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const started = performance.now();
  const say = o.onProgress ?? (() => {});
  const spawnOpts = o.threads !== undefined ? { threads: o.threads } : {};
  const torchInfo = setupTorch(o, say);
  const torch: TorchSetup | null =
    torchInfo && "version" in torchInfo && o.referenceDir !== undefined
      ? { ...torchInfo, referenceDir: o.referenceDir }
      : null;
  // The f32 peak always; the bf16-weight peak too when a bf16 run is asked for.
  const peakDtype: StorageDType = o.dtypes.includes("bf16") ? "bf16" : "f32";
  // The memory bandwidth in the same worker, after the matmuls (decode rows are reported against it).
  const peakSpec = {
    kind: "peak" as const,
    dtype: peakDtype,
    sizes: o.quick ? QUICK_PEAK_SIZES : PEAK_SIZES,
    bandwidthMiB: o.quick ? QUICK_BANDWIDTH_ARRAY_MIB : BANDWIDTH_ARRAY_MIB,
  };
  const measurePeak = async () => (await runWorker({ ...peakSpec, reps: o.quick ? 2 : 5 }, spawnOpts)) as PeakResult;
  let peak = await measurePeak();
  const bf16Peak = peak.peakBf16Gflops === null ? "" : `, bf16 weights ${peak.peakBf16Gflops.toFixed(1)}`;
  say(`matmul peak: ${peak.peakGflops.toFixed(1)} GFLOP/s${bf16Peak} (${peak.kernels.backend} ${peak.kernels.isa})`);
  if (peak.bandwidth) say(`memory bandwidth: ${peak.bandwidth.triadGBs.toFixed(1)} GB/s (triad)`);
  if (peak.kernels.notice) say(`WARNING: ${peak.kernels.notice}`);
  const threads = o.threads ?? peak.kernels.threads;
  const llama = await setupLlamaCpp(o, say);
  const rows: BenchRow[] = [];
  const tmp = torch ? mkdtempSync(join(tmpdir(), "loratune-bench-")) : null;
  const stop = onInterrupt(tmp);
  try {
    for (const shape of o.shapes) {
      const modelDir = tmp ? await writeTorchModel(shape, tmp, spawnOpts, say) : null;
      for (const workload of o.workloads) {
        const specs = o.dtypes.map((dtype) => workloadSpec(shape, workload, o, dtype));
        const vs = torch && modelDir ? { torch, modelDir, threads } : null;
        for (const row of await runRows(specs, workload, spawnOpts, vs)) {
          if (llama && "llama" in llama && workload === "decode" && row.ours) {
            await addLlamaCpp(row, specs.find((sp) => sp.dtype === row.dtype)!, llama, spawnOpts, threads);
          }
          say(progressLine(row));
          rows.push(row);
        }
      }
      if (modelDir) rmSync(modelDir, { recursive: true, force: true });
    }
  } finally {
    stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  // Measured again at the end: the better of two samples is closer to what the machine can do when it is shared.
  if (rows.length > 0) peak = bestPeak(peak, await measurePeak());
  const first = workloadSpec(o.shapes[0] ?? "tiny", "train", o);
  return {
    peak,
    torch: torchInfo,
    llamaCpp: llama === null ? null : "llama" in llama ? { version: llama.version } : llama,
    settings: {
      dtypes: o.dtypes,
      quick: o.quick,
      threads,
      B: first.B,
      T: first.T,
      rank: first.r,
      gradCheckpoint: o.gradCheckpoint,
    },
    rows,
    totalS: (performance.now() - started) / 1000,
  };
}

/** llama.cpp for the decode rows: null when not asked for, else the loaded library or why it is not there. */
async function setupLlamaCpp(
  o: BenchOptions,
  say: (s: string) => void,
): Promise<LlamaCppSetup | { unavailable: string } | null> {
  if (o.llamaCpp === "off" || !o.workloads.includes("decode")) return null;
  const probe = await probeLlamaCpp();
  if ("unavailable" in probe) say(`llama.cpp comparison skipped: ${probe.unavailable}`);
  return probe;
}

/** llama.cpp's decode of the row's model: written as GGUF in the row's dtype by a worker, decoded here. */
async function addLlamaCpp(
  row: BenchRow,
  spec: ModelWorkloadSpec,
  llama: LlamaCppSetup,
  spawnOpts: { threads?: number },
  threads: number,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "loratune-bench-gguf-"));
  try {
    const path = join(dir, "model.gguf");
    await runWorker({ kind: "write-gguf", shape: spec.shape, dtype: spec.dtype, path, seed: spec.seed }, spawnOpts);
    row.llamaCpp = await runLlamaCppDecode(llama, path, spec, threads);
    row.llamaCppRatio = row.ours!.tokensPerS / row.llamaCpp.tokensPerS;
  } catch (err) {
    row.llamaCppError = errorText(err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per shape and variant the higher GFLOP/s of two peak measurements (same sizes and dtype), and the higher bandwidths. */
export function bestPeak(a: PeakResult, b: PeakResult): PeakResult {
  const entries = a.entries.map((e, i) => ({ ...e, gflops: Math.max(e.gflops, b.entries[i]?.gflops ?? 0) }));
  const bf16 = a.peakBf16Gflops === null ? null : Math.max(a.peakBf16Gflops, b.peakBf16Gflops ?? 0);
  const best: PeakResult = { ...a, entries, peakGflops: Math.max(a.peakGflops, b.peakGflops), peakBf16Gflops: bf16 };
  if (a.bandwidth && b.bandwidth) {
    best.bandwidth = {
      arrayMiB: a.bandwidth.arrayMiB,
      triadGBs: Math.max(a.bandwidth.triadGBs, b.bandwidth.triadGBs),
      copyGBs: Math.max(a.bandwidth.copyGBs, b.bandwidth.copyGBs),
    };
  }
  return best;
}

/**
 * On SIGINT/SIGTERM: end the running worker or PyTorch child, remove the temporary model directory, exit 130.
 * Returns the function that removes the handlers.
 */
function onInterrupt(tmp: string | null): () => void {
  const handler = () => {
    killActiveChildren();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    process.stderr.write("bench interrupted\n");
    process.exit(130);
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

/** Writes the shape's random model for PyTorch; null (and a note) when that fails. */
async function writeTorchModel(
  shape: string,
  tmp: string,
  spawnOpts: { threads?: number },
  say: (s: string) => void,
): Promise<string | null> {
  try {
    await runWorker({ kind: "write-model", shape, dir: join(tmp, shape), seed: 0 }, spawnOpts);
    return join(tmp, shape);
  } catch (err) {
    say(`PyTorch side skipped for ${shape}: ${errorText(err)}`);
    return null;
  }
}

/**
 * One (shape, workload): loratune once per dtype, each run followed by nothing else, then PyTorch once (f32; its
 * result is shared by every dtype's row, so a bf16 row's ratio is against PyTorch's f32, as the issue asks).
 */
async function runRows(
  specs: ModelWorkloadSpec[],
  workload: WorkloadName,
  spawnOpts: { threads?: number },
  vs: { torch: TorchSetup; modelDir: string; threads: number } | null,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const spec of specs) {
    const row: BenchRow = { shape: spec.shape, workload, dtype: spec.dtype, ours: null, torch: null, ratio: null };
    try {
      row.ours = (await runWorker(spec, spawnOpts)) as WorkloadResult;
    } catch (err) {
      row.error = errorText(err);
    }
    rows.push(row);
  }
  if (vs && specs[0]) {
    let torch: TorchResult | null = null;
    let torchError: string | undefined;
    try {
      torch = await runTorchWorkload(vs.torch, { ...specs[0], dtype: "f32" }, vs.modelDir, vs.threads);
    } catch (err) {
      torchError = errorText(err);
    }
    for (const row of rows) {
      row.torch = torch;
      if (torchError !== undefined) row.torchError = torchError;
      if (row.ours && torch && torch.tokens_per_s > 0) row.ratio = row.ours.tokensPerS / torch.tokens_per_s;
    }
  }
  return rows;
}

function progressLine(row: BenchRow): string {
  const spec = `${row.shape} ${row.workload}${row.dtype === "f32" ? "" : ` ${row.dtype}`}`;
  const ours = row.ours ? `${row.ours.tokensPerS.toFixed(0)} tokens/s` : `failed: ${row.error}`;
  const torch = row.torch
    ? `, PyTorch ${row.torch.tokens_per_s.toFixed(0)} tokens/s (×${row.ratio?.toFixed(2) ?? "?"})`
    : row.torchError
      ? `, PyTorch failed: ${row.torchError}`
      : "";
  const llama = row.llamaCpp
    ? `, llama.cpp ${row.llamaCpp.tokensPerS.toFixed(0)} tokens/s (×${row.llamaCppRatio?.toFixed(2) ?? "?"})`
    : row.llamaCppError
      ? `, llama.cpp failed: ${row.llamaCppError}`
      : "";
  return `${spec}: ${ours}${torch}${llama}`;
}
