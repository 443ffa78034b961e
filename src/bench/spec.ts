/**
 * What the bench parent asks a worker process to measure (a JSON argument) and what the worker answers (one JSON
 * line on stdout). One (shape, workload) per process, so each peak RSS belongs to one workload alone.
 */
import type { StorageDType } from "../tensor/stored-tensor.ts";
import type { BenchTargets } from "./flops.ts";
import type { ProfileEntry } from "./kernel-profile.ts";

export type ModelWorkload = "train" | "prefill" | "decode";

export interface ModelWorkloadSpec {
  kind: ModelWorkload;
  shape: string;
  dtype: StorageDType;
  /** LoRA targets (train only). */
  targets: BenchTargets;
  r: number;
  alpha: number;
  /** Batch rows and sequence length (train, prefill). */
  B: number;
  T: number;
  /** Decode: prompt tokens fed first, then genTokens single-token steps timed. */
  promptTokens: number;
  genTokens: number;
  /** Timed runs (their median is reported) after `warmup` untimed ones. */
  steps: number;
  warmup: number;
  /** Time every kernel call of the timed runs (`bench --profile`). */
  profile: boolean;
  /** Activation checkpointing (train only; `bench --grad-checkpoint`). */
  gradCheckpoint: boolean;
  /** Train: refuse before making the model when the memory estimate exceeds the memory available (default true). */
  memoryCheck?: boolean;
  seed: number;
}

export interface PeakSpec {
  kind: "peak";
  dtype: StorageDType;
  /** Matmul shapes [M, N, K] of out[M,N] = a[M,K]·b[N,K]ᵀ. */
  sizes: [number, number, number][];
  reps: number;
  /** MiB of each of the bandwidth probe's three arrays (bandwidth.ts); absent: no bandwidth probe. */
  bandwidthMiB?: number;
}

export interface WriteModelSpec {
  kind: "write-model";
  shape: string;
  dir: string;
  seed: number;
}

/** The shape's random model (as a workload of `seed` makes it) written as GGUF in `dtype`, for llama.cpp. */
export interface WriteGgufSpec {
  kind: "write-gguf";
  shape: string;
  dtype: StorageDType;
  path: string;
  seed: number;
}

export type WorkerSpec = ModelWorkloadSpec | PeakSpec | WriteModelSpec | WriteGgufSpec;

export interface KernelInfo {
  backend: string;
  isa: string;
  threads: number;
  /** Whether block-format weights are multiplied on the bf16 dot product (nativeBlocksOnBf16). */
  blocksOnBf16: boolean;
  /** Why the native kernels are not in use, when they are not. */
  notice?: string;
}

export interface WorkloadResult {
  kind: ModelWorkload;
  shape: string;
  dtype: StorageDType;
  targets: BenchTargets | null;
  /** Tokens processed per timed run (B·T for train/prefill, genTokens for decode). */
  tokensPerRun: number;
  /** From the median run. */
  tokensPerS: number;
  runMsMedian: number;
  runMs: number[];
  flopsPerToken: number;
  gflops: number;
  peakRssMiB: number;
  /** Seconds spent making the random model and buffers before the first run. */
  setupS: number;
  /** CPU cores other processes used during the timed runs (null off Linux). */
  otherProcsCores: number | null;
  kernels: KernelInfo;
  /** Decode: bytes each decoded token reads (decode-bytes.ts), at the run's mean context. */
  bytesPerToken?: number;
  /** Decode: GB/s of one read pass over the model's weights after each timed run, median (weights-read.ts). */
  weightsReadGBs?: number;
  /** Train: trainable LoRA values, the summary's memory estimate, the last loss, per-phase medians. */
  trainableParams?: number;
  estimatedPeakMiB?: number;
  loss?: number;
  phasesMs?: { forward: number; backward: number; optimizer: number };
  /** With `bench --profile`: kernel times largest first, per training step, prefill run or decoded token. */
  profile?: ProfileEntry[];
}

export interface PeakEntry {
  variant: "matmulNT" | "matmulNTBf16";
  M: number;
  N: number;
  K: number;
  gflops: number;
}

export interface PeakResult {
  kind: "peak";
  entries: PeakEntry[];
  /** Best GFLOP/s of the f32 product (matmulNT): the machine's f32 matmul peak. */
  peakGflops: number;
  /** Best GFLOP/s with bf16 weights (matmulWNT on bf16, reported as matmulNTBf16), when the spec asked for bf16; bf16 rows are reported against it. */
  peakBf16Gflops: number | null;
  /** The memory bandwidth probe, when the spec asked for it. */
  bandwidth?: BandwidthResult;
  kernels: KernelInfo;
}

/** STREAM-style memory bandwidth (bandwidth.ts), GB/s = 1e9 bytes/s. */
export interface BandwidthResult {
  /** MiB of each array. */
  arrayMiB: number;
  /** a = b·c: two reads and one write per element. */
  triadGBs: number;
  /** a = b: one read and one write per element. */
  copyGBs: number;
  /** Σ a: one read per element, nothing written (a decoded token's access). Decode rows are reported against it. */
  readGBs: number;
}

export interface WriteModelResult {
  kind: "write-model";
  dir: string;
}

export type WorkerResult = WorkloadResult | PeakResult | WriteModelResult | { kind: "write-gguf"; path: string };
