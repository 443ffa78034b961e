/**
 * The bench run: the limits (loratune's matmul peak and the memory bandwidth, PyTorch's matmul rates; measured
 * again at the end, the better sample counts), then for each shape each workload in its own worker process, each
 * followed at once by its anchors (anchors.ts): PyTorch f32 and bf16 autocast, and llama.cpp in its own process
 * (side by side in time, so all see the same machine load). Defaults keep a full run (tiny, small, smollm135, with
 * PyTorch) within about ten minutes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { ANCHOR_LABELS, ANCHOR_NAMES, type AnchorName, type AnchorOutcome, torchCell } from "./anchors.ts";
import { BANDWIDTH_ARRAY_MIB, QUICK_BANDWIDTH_ARRAY_MIB } from "./bandwidth.ts";
import { type Limits, runLimits } from "./limits.ts";
import { GgufFiles, type LlamaCppInfo, llamaCppOutcome, probeLlamaCppChild } from "./llama-column.ts";
import { PEAK_SIZES, QUICK_PEAK_SIZES } from "./peak.ts";
import { shapeConfig } from "./shapes.ts";
import { killActiveChildren, runWorker } from "./spawn.ts";
import type { ModelWorkloadSpec, PeakResult, WorkloadResult } from "./spec.ts";
import {
  probeTorch,
  runTorchWorkload,
  type TorchMode,
  type TorchSetup,
  type TorchWaitPolicy,
  torchRuns,
} from "./torch.ts";
import { bestTorchGemm, runTorchGemm, type TorchGemmResult } from "./torch-gemm.ts";

/** train = LoRA on q,k,v,o; train-all = LoRA on every linear; prefill; decode. */
export type WorkloadName = "train" | "train-all" | "prefill" | "decode";
export const WORKLOAD_NAMES: readonly WorkloadName[] = ["train", "train-all", "prefill", "decode"];

export interface BenchOptions {
  shapes: string[];
  workloads: WorkloadName[];
  /** In-memory dtypes of the base weights; each workload runs once per dtype (PyTorch once per mode). */
  dtypes: StorageDType[];
  /** Timed runs and warm-up runs; undefined = per-shape defaults. */
  steps?: number;
  warmup?: number;
  threads?: number;
  /** auto: compare when PyTorch is there; on: required (--vs-torch); off: never. */
  torch: "auto" | "on" | "off";
  /** PyTorch's OpenMP wait policy: its default, or PASSIVE on a machine shared with other work (--shared-machine). */
  waitPolicy?: TorchWaitPolicy;
  /**
   * PyTorch's bf16 autocast column (default true; false: --no-torch-bf16, e.g. on a CPU without bf16 instructions,
   * where PyTorch's bf16 fallback is far slower than its f32 and would take most of the run).
   */
  torchBf16?: boolean;
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
  /** auto (default): llama.cpp prefills and decodes the rows' weights as GGUF when node-llama-cpp loads; off: never. */
  llamaCpp?: "auto" | "off";
  python: string;
  /** bench_lora.py's folder; undefined when none was given (no comparison, saying how to give one). */
  referenceDir: string | undefined;
  onProgress?: (line: string) => void;
}

export interface BenchRow {
  shape: string;
  workload: WorkloadName;
  /** Base-weight dtype of loratune's run (and of llama.cpp's GGUF). */
  dtype: StorageDType;
  ours: WorkloadResult | null;
  error?: string;
  /**
   * The anchors that ran this row (anchors.ts). One compared in this run but absent here does not run this
   * workload (llama.cpp does not train; PyTorch's decode has no bf16 autocast).
   */
  anchors: Partial<Record<AnchorName, AnchorOutcome>>;
}

export interface BenchReport {
  peak: PeakResult;
  /**
   * PyTorch's release, the wait policy and modes it ran with, why it was not compared, or null when not asked
   * (--no-torch).
   */
  torch:
    | { version: string; python: string; waitPolicy: TorchWaitPolicy; modes: TorchMode[] }
    | { unavailable: string }
    | null;
  /** PyTorch's f32 and bf16 matmul rates in this run (torch-gemm.ts), or why they are missing; absent without PyTorch. */
  torchGemm?: TorchGemmResult | { error: string };
  /** What every %limit is a fraction of (limits.ts). */
  limits: Limits;
  /** llama.cpp's release, why it was not compared, or null when not asked (--no-llama-cpp, or no prefill/decode row). */
  llamaCpp: LlamaCppInfo | null;
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
 * Timed/warm-up runs per shape: a smollm135 training step of 1024 tokens takes seconds, a Qwen2.5-0.5B or
 * Llama-3.2-1B step of 2048 tokens a minute or more on two cores, a Llama-3.1-8B one several.
 */
const SHAPE_RUNS: Record<string, { steps: number; warmup: number }> = {
  tiny: { steps: 5, warmup: 2 },
  small: { steps: 5, warmup: 2 },
  smollm135: { steps: 3, warmup: 1 },
  "qwen2.5-0.5b": { steps: 2, warmup: 1 },
  "llama-3.2-1b": { steps: 2, warmup: 1 },
  "gemma-3-1b": { steps: 2, warmup: 1 },
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
    profile: o.profile,
    gradCheckpoint: o.gradCheckpoint && workload.startsWith("train"),
    ...(o.memoryCheck === false ? { memoryCheck: false } : {}),
    seed: 0,
  };
}

function setupTorch(o: BenchOptions, say: (s: string) => void): BenchReport["torch"] {
  if (o.torch === "off") return null;
  const waitPolicy = o.waitPolicy ?? "default";
  const probe = probeTorch(o.python, o.referenceDir, waitPolicy);
  if ("reason" in probe) {
    if (o.torch === "on") throw new LoratuneError("ERR_UNSUPPORTED", `--vs-torch: ${probe.reason}`);
    say(`PyTorch comparison skipped: ${probe.reason}`);
    return { unavailable: probe.reason };
  }
  const modes: TorchMode[] = o.torchBf16 === false ? ["f32"] : ["f32", "bf16"];
  return { version: probe.version, python: probe.python, waitPolicy, modes };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What the rows of one shape need from the run. */
interface RunContext {
  /** PyTorch and the modes asked of it; null when it is not compared. */
  torch: (TorchSetup & { modes: TorchMode[] }) | null;
  /** Whether llama.cpp is compared (node-llama-cpp loads, and it was asked for). */
  llama: boolean;
  /** Where the models for PyTorch and llama.cpp are written (null when neither is compared). */
  tmp: string | null;
  threads: number;
  spawnOpts: { threads?: number };
  say: (s: string) => void;
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const started = performance.now();
  const say = o.onProgress ?? (() => {});
  const spawnOpts = o.threads !== undefined ? { threads: o.threads } : {};
  const torchInfo = setupTorch(o, say);
  const torch: RunContext["torch"] =
    torchInfo && "version" in torchInfo && o.referenceDir !== undefined
      ? { ...torchInfo, referenceDir: o.referenceDir }
      : null;
  const sizes = o.quick ? QUICK_PEAK_SIZES : PEAK_SIZES;
  const reps = o.quick ? 2 : 5;
  // The f32 peak always; the bf16-weight peak too when a bf16 run is asked for. The memory bandwidth in the same
  // worker, after the matmuls (decode rows are reported against it).
  const peakSpec = {
    kind: "peak" as const,
    dtype: (o.dtypes.includes("bf16") ? "bf16" : "f32") as StorageDType,
    sizes,
    bandwidthMiB: o.quick ? QUICK_BANDWIDTH_ARRAY_MIB : BANDWIDTH_ARRAY_MIB,
  };
  const measurePeak = async () => (await runWorker({ ...peakSpec, reps }, spawnOpts)) as PeakResult;
  let peak = await measurePeak();
  const bf16Peak = peak.peakBf16Gflops === null ? "" : `, bf16 weights ${peak.peakBf16Gflops.toFixed(1)}`;
  say(`matmul peak: ${peak.peakGflops.toFixed(1)} GFLOP/s${bf16Peak} (${peak.kernels.backend} ${peak.kernels.isa})`);
  if (peak.bandwidth) {
    const bw = peak.bandwidth;
    say(`memory bandwidth: ${bw.readGBs.toFixed(1)} GB/s read, ${bw.triadGBs.toFixed(1)} GB/s triad`);
  }
  if (peak.kernels.notice) say(`WARNING: ${peak.kernels.notice}`);
  const threads = o.threads ?? peak.kernels.threads;
  const measureTorchGemm = async (): Promise<TorchGemmResult | { error: string }> => {
    try {
      return await runTorchGemm(torch!, sizes, reps, threads);
    } catch (err) {
      return { error: errorText(err) };
    }
  };
  let torchGemm = torch ? await measureTorchGemm() : undefined;
  if (torchGemm) say(torchGemmLine(torchGemm));
  const llama = await setupLlamaCpp(o, threads, say);
  const compareLlama = llama !== null && "version" in llama;
  const rows: BenchRow[] = [];
  const tmp = torch || compareLlama ? mkdtempSync(join(tmpdir(), "loratune-bench-")) : null;
  const stop = onInterrupt(tmp);
  const ctx: RunContext = { torch, llama: compareLlama, tmp, threads, spawnOpts, say };
  try {
    for (const shape of o.shapes) rows.push(...(await runShape(shape, o, ctx)));
  } finally {
    stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  // Measured again at the end: the better of two samples is closer to what the machine can do when it is shared.
  if (rows.length > 0) {
    peak = bestPeak(peak, await measurePeak());
    if (torchGemm) torchGemm = bestTorchGemm(torchGemm, await measureTorchGemm());
  }
  const first = workloadSpec(o.shapes[0] ?? "tiny", "train", o);
  return {
    peak,
    torch: torchInfo,
    ...(torchGemm ? { torchGemm } : {}),
    limits: runLimits(peak, torchGemm && "f32Gflops" in torchGemm ? torchGemm : null),
    llamaCpp: llama,
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

function torchGemmLine(g: TorchGemmResult | { error: string }): string {
  if ("error" in g) return `PyTorch matmul probe failed: ${g.error}`;
  return `PyTorch matmul: ${g.f32Gflops.toFixed(1)} GFLOP/s f32, ${g.bf16Gflops.toFixed(1)} GFLOP/s bf16 (CPU capability ${g.capability})`;
}

/** llama.cpp for the prefill and decode rows: null when not asked for, else its release or why it is not there. */
async function setupLlamaCpp(o: BenchOptions, threads: number, say: (s: string) => void): Promise<LlamaCppInfo | null> {
  if (o.llamaCpp === "off" || !o.workloads.some((w) => w === "prefill" || w === "decode")) return null;
  const probe = await probeLlamaCppChild(threads);
  if ("unavailable" in probe) say(`llama.cpp comparison skipped: ${probe.unavailable}`);
  return probe;
}

/** Every workload of one shape, each followed by its anchors; the shape's model files removed after. */
async function runShape(shape: string, o: BenchOptions, ctx: RunContext): Promise<BenchRow[]> {
  const modelDir = ctx.torch && ctx.tmp ? await writeTorchModel(shape, ctx.tmp, ctx.spawnOpts) : null;
  const ggufs = ctx.llama && ctx.tmp ? new GgufFiles(ctx.tmp, ctx.spawnOpts) : null;
  const rows: BenchRow[] = [];
  try {
    for (const workload of o.workloads) {
      const specs = o.dtypes.map((dtype) => workloadSpec(shape, workload, o, dtype));
      const workloadRows = await runRows(specs, workload, ctx.spawnOpts);
      if (ctx.torch && modelDir !== null)
        await addTorch(workloadRows, specs[0]!, ctx.torch, ctx.torch.modes, modelDir, ctx.threads);
      for (const [i, row] of workloadRows.entries()) {
        const spec = specs[i]!;
        if (ggufs && spec.kind !== "train") {
          row.anchors.llamaCpp = await llamaCppOutcome(spec, ggufs, ctx.threads, row.ours?.tokensPerS ?? null);
        }
        ctx.say(progressLine(row));
        rows.push(row);
      }
    }
  } finally {
    if (typeof modelDir === "string") rmSync(modelDir, { recursive: true, force: true });
    ggufs?.drop(shape);
  }
  return rows;
}

const TORCH_MODES: [AnchorName, TorchMode][] = [
  ["torchF32", "f32"],
  ["torchBf16", "bf16"],
];

/**
 * PyTorch on one (shape, workload), once per mode asked for that it runs (f32; bf16 autocast but for decode), on
 * the f32 model directory; each result is shared by every dtype's row, with that row's ratio. `modelDir` is why it failed when
 * the directory could not be written.
 */
async function addTorch(
  rows: BenchRow[],
  spec: ModelWorkloadSpec,
  setup: TorchSetup,
  modes: TorchMode[],
  modelDir: string | { error: string },
  threads: number,
): Promise<void> {
  const config = shapeConfig(spec.shape);
  for (const [name, mode] of TORCH_MODES) {
    if (!modes.includes(mode) || !torchRuns(mode, spec.kind)) continue;
    try {
      if (typeof modelDir !== "string") throw new Error(modelDir.error);
      const t = await runTorchWorkload(setup, { ...spec, dtype: "f32" }, modelDir, threads, mode);
      for (const row of rows) {
        row.anchors[name] = { status: "measured", ...torchCell(t, spec, config, row.ours?.tokensPerS ?? null) };
      }
    } catch (err) {
      for (const row of rows) row.anchors[name] = { status: "failed", error: errorText(err) };
    }
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
      readGBs: Math.max(a.bandwidth.readGBs, b.bandwidth.readGBs),
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

/** Writes the shape's random model (f32) for PyTorch: its directory, or why it could not be written. */
async function writeTorchModel(
  shape: string,
  tmp: string,
  spawnOpts: { threads?: number },
): Promise<string | { error: string }> {
  try {
    await runWorker({ kind: "write-model", shape, dir: join(tmp, shape), seed: 0 }, spawnOpts);
    return join(tmp, shape);
  } catch (err) {
    return { error: `the model directory for PyTorch could not be written: ${errorText(err)}` };
  }
}

/** One (shape, workload): loratune once per dtype, each in its own worker. */
async function runRows(
  specs: ModelWorkloadSpec[],
  workload: WorkloadName,
  spawnOpts: { threads?: number },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const spec of specs) {
    const row: BenchRow = { shape: spec.shape, workload, dtype: spec.dtype, ours: null, anchors: {} };
    try {
      row.ours = (await runWorker(spec, spawnOpts)) as WorkloadResult;
    } catch (err) {
      row.error = errorText(err);
    }
    rows.push(row);
  }
  return rows;
}

function progressLine(row: BenchRow): string {
  const spec = `${row.shape} ${row.workload}${row.dtype === "f32" ? "" : ` ${row.dtype}`}`;
  // Whole tokens/s, but a tenth below 10 (a real-scale shape under PyTorch's bf16 fallback runs below 1).
  const rate = (tps: number) => tps.toFixed(tps < 10 ? 1 : 0);
  const ours = row.ours ? `${rate(row.ours.tokensPerS)} tokens/s` : `failed: ${row.error}`;
  const anchors = ANCHOR_NAMES.flatMap((name) => {
    const a = row.anchors[name];
    if (!a) return [];
    if (a.status === "failed") return [`${ANCHOR_LABELS[name]} failed: ${a.error}`];
    return [`${ANCHOR_LABELS[name]} ${rate(a.tokensPerS)} tokens/s (×${a.ratio?.toFixed(2) ?? "?"})`];
  });
  return [`${spec}: ${ours}`, ...anchors].join(", ");
}
