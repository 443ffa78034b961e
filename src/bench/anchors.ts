/**
 * The anchors a bench row is compared with, each a column of the report, measured right after loratune's run of
 * the same row (side by side in time, so both see the same machine load):
 * - torchF32: PyTorch f32 (bench_lora.py; torch.ts), training, prefill and decode;
 * - torchBf16: PyTorch with bf16 autocast (bench_lora.py --bf16), training and prefill (its decode runs without
 *   autocast);
 * - llamaCpp: llama.cpp in its own process on the same weights as GGUF in the row's dtype (llama-cpp.ts), prefill
 *   and decode.
 * A row holds an outcome for each anchor that ran it: the figures and loratune's ratio to them, or why it failed.
 */
import type { ModelConfig } from "../model/config.ts";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { decodeBytesPerToken, kvCacheBytes } from "./decode-bytes.ts";
import { decodeFlopsPerToken, promptFlopsPerToken } from "./flops.ts";
import { type ComputeDtype, computeDtype } from "./limits.ts";
import type { LlamaCppRun } from "./llama-cpp.ts";
import type { ModelWorkloadSpec } from "./spec.ts";
import type { TorchResult } from "./torch.ts";

export type AnchorName = "torchF32" | "torchBf16" | "llamaCpp";
export const ANCHOR_NAMES: readonly AnchorName[] = ["torchF32", "torchBf16", "llamaCpp"];

/** Column titles. */
export const ANCHOR_LABELS: Record<AnchorName, string> = {
  torchF32: "PyTorch f32",
  torchBf16: "PyTorch bf16 autocast",
  llamaCpp: "llama.cpp",
};

export interface AnchorCell {
  tokensPerS: number;
  runMs: number[];
  /** Achieved GFLOP/s by the bench's FLOP model (flops.ts). */
  gflops: number;
  /** Decode: bytes each token reads in the anchor's weights and KV cache. */
  bytesPerToken?: number;
  peakRssMiB: number;
  /** CPU cores other processes used during its timed runs (null where not known). */
  otherProcsCores: number | null;
  /** loratune's tokens/s on the row ÷ the anchor's; null when loratune's run failed. */
  ratio: number | null;
}

export type AnchorOutcome = ({ status: "measured" } & AnchorCell) | { status: "failed"; error: string };

/**
 * The dtype an anchor's matmuls are put against on a row of base weights `rowDtype`. llama.cpp's block formats
 * multiply int8 blocks (its own activation quantization), a peak this bench does not measure: the f32 one stands in.
 */
export function anchorComputeDtype(name: AnchorName, rowDtype: StorageDType): ComputeDtype {
  if (name === "torchF32") return "f32";
  if (name === "torchBf16") return "bf16";
  return computeDtype(rowDtype, false);
}

const ratioTo = (ours: number | null, theirs: number): number | null =>
  ours === null || !(theirs > 0) ? null : ours / theirs;

/** bench_lora.py's figures as a cell; a decode cell reads the f32 model (bench_lora.py's --generate is f32). */
export function torchCell(t: TorchResult, spec: ModelWorkloadSpec, c: ModelConfig, ours: number | null): AnchorCell {
  const cell: AnchorCell = {
    tokensPerS: t.tokens_per_s,
    runMs: t.step_ms,
    gflops: t.achieved_gflops,
    peakRssMiB: t.peak_rss_mb,
    otherProcsCores: t.other_procs_cores,
    ratio: ratioTo(ours, t.tokens_per_s),
  };
  if (spec.kind === "decode") cell.bytesPerToken = decodeBytesPerToken(c, "f32", decodeContext(spec));
  return cell;
}

/** The mean context of a decode run: the prompt and half the generated tokens. */
export const decodeContext = (spec: ModelWorkloadSpec): number => spec.promptTokens + spec.genTokens / 2;

/**
 * llama.cpp's figures as a cell. Prefill FLOPs count the head on each prompt's last token only (llama.cpp's
 * prompt evaluation); decode bytes are the same weights as loratune's row plus llama.cpp's f16 KV cache.
 */
export function llamaCell(r: LlamaCppRun, spec: ModelWorkloadSpec, c: ModelConfig, ours: number | null): AnchorCell {
  const cell: AnchorCell = {
    tokensPerS: r.tokensPerS,
    runMs: r.runMs,
    gflops: 0,
    peakRssMiB: r.peakRssMiB,
    otherProcsCores: r.otherProcsCores,
    ratio: ratioTo(ours, r.tokensPerS),
  };
  if (spec.kind === "decode") {
    const ctx = decodeContext(spec);
    cell.gflops = (decodeFlopsPerToken(c, ctx) * r.tokensPerS) / 1e9;
    cell.bytesPerToken = decodeBytesPerToken(c, spec.dtype, ctx) - kvCacheBytes(c, ctx, 4) + kvCacheBytes(c, ctx, 2);
  } else cell.gflops = (promptFlopsPerToken(c, spec.T) * r.tokensPerS) / 1e9;
  return cell;
}
