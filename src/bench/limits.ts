/**
 * The machine's limits measured in the same bench run, what every "%limit" figure of the report is a fraction of:
 * - the matmul peak per compute dtype: the better of loratune's own product (peak.ts) and PyTorch's
 *   (torch-gemm.ts: OpenBLAS in f32, oneDNN or PyTorch's fallback in bf16) when PyTorch ran, so a column is never
 *   reported against a slower product than the machine is known to run;
 * - the memory bandwidth (bandwidth.ts, the triad figure).
 * Training and prefill are fractions of the matmul peak of their compute dtype (GFLOP/s by the bench's FLOP model,
 * flops.ts); decode is a fraction of the bandwidth (the bytes each token reads × tokens/s, decode-bytes.ts).
 */
import { weightFormat } from "../tensor/formats/index.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import type { ModelWorkload, PeakResult } from "./spec.ts";
import type { TorchGemmResult } from "./torch-gemm.ts";

export type ComputeDtype = "f32" | "bf16";

/** A matmul peak and whose product reached it. */
export interface MatmulLimit {
  gflops: number;
  by: "loratune" | "PyTorch";
}

export interface Limits {
  f32: MatmulLimit;
  /** null when neither loratune's bf16 product nor PyTorch's was measured. */
  bf16: MatmulLimit | null;
  /** Read-only GB/s (decode's limit; bandwidth.ts); null when not measured. */
  bandwidthGBs: number | null;
  /** Whether loratune's block-format products run on the bf16 dot product (so are put against the bf16 peak). */
  blocksOnBf16: boolean;
}

function better(ours: number | null, torch: number | undefined): MatmulLimit | null {
  if (torch !== undefined && (ours === null || torch > ours)) return { gflops: torch, by: "PyTorch" };
  return ours === null ? null : { gflops: ours, by: "loratune" };
}

/** The run's limits from loratune's peak probe and, when it ran, PyTorch's matmul probe. */
export function runLimits(peak: PeakResult, torch: TorchGemmResult | null): Limits {
  return {
    f32: better(peak.peakGflops, torch?.f32Gflops)!,
    bf16: better(peak.peakBf16Gflops, torch?.bf16Gflops),
    bandwidthGBs: peak.bandwidth?.readGBs ?? null,
    blocksOnBf16: peak.kernels.blocksOnBf16,
  };
}

/**
 * The compute dtype of loratune's run on base weights `dtype`: bf16 weights run the bf16 product; so do the block
 * formats where the kernels have a bf16 dot product (`blocksOnBf16`: blocks decoded and rounded to bf16 while
 * packing), else they are widened to f32 and put against the f32 peak, as f32 and f16 are.
 */
export function computeDtype(dtype: StorageDType, blocksOnBf16: boolean): ComputeDtype {
  if (dtype === "bf16") return "bf16";
  return blocksOnBf16 && weightFormat(dtype).blockValues > 1 ? "bf16" : "f32";
}

/** What a %limit is computed from: achieved GFLOP/s, tokens/s and (decode) the bytes each token reads. */
export interface LimitFigures {
  gflops: number;
  tokensPerS: number;
  bytesPerToken?: number;
}

/**
 * The fraction of its limit a measurement reached: training and prefill of the matmul peak of `dtype`, decode of
 * the bandwidth; null when that limit or the decode's bytes per token are not known.
 */
export function fractionOfLimit(
  limits: Limits,
  kind: ModelWorkload,
  dtype: ComputeDtype,
  f: LimitFigures,
): number | null {
  if (kind === "decode") {
    if (limits.bandwidthGBs === null || f.bytesPerToken === undefined) return null;
    return (f.bytesPerToken * f.tokensPerS) / 1e9 / limits.bandwidthGBs;
  }
  const peak = dtype === "bf16" ? limits.bf16 : limits.f32;
  return peak === null ? null : f.gflops / peak.gflops;
}
