/// <reference types="@webgpu/types" />
/**
 * The forward pass on the GPU, in the CPU's order (model/forward.ts, model/arch/llama-block.ts, llama-mlp.ts):
 * embedding; per block ln1 = rmsnorm(x), q/k/v projections, RoPE on q and k, causal grouped-query attention,
 * h = x + o(att), ln2 = rmsnorm(h), out = h + down(silu(gate(ln2)) ⊙ up(ln2)); the final norm; the head and
 * cross-entropy over all N rows at once (the CPU does row chunks; each row is computed the same), and with a
 * gradient scale the loss's gradient into dlnf. The batch's Σ token losses goes to stats[lossIndex] on the GPU.
 * N = B·T rows; C hidden; V vocabulary.
 */
import { addInPlace } from "../kernels/webgpu/add.ts";
import { attentionForward } from "../kernels/webgpu/attention-forward.ts";
import { crossEntropy } from "../kernels/webgpu/cross-entropy.ts";
import { embeddingForward } from "../kernels/webgpu/embedding.ts";
import type { Gpu } from "../kernels/webgpu/gpu.ts";
import { matmul } from "../kernels/webgpu/matmul.ts";
import { rmsnormForward } from "../kernels/webgpu/rmsnorm.ts";
import { ropeForward } from "../kernels/webgpu/rope.ts";
import { sumInto } from "../kernels/webgpu/sum.ts";
import { swigluForward } from "../kernels/webgpu/swiglu.ts";
import type { ModelConfig } from "../model/config.ts";
import type { GpuActivations } from "./activations.ts";
import type { GpuModel } from "./gpu-model.ts";
import { gpuLinearForward } from "./linear.ts";

/** The shape of the uploaded batch. */
export interface GpuBatchShape {
  B: number;
  T: number;
  /** Packed rows: the seg buffer holds the example ids (attention stays within an example). */
  packed: boolean;
}

/**
 * Runs the forward over the uploaded batch and writes Σ token losses to stats[lossIndex]; with gradScale > 0 also
 * dlogits = (softmax − onehot)·gradScale and dlnf = dlogits·head (the start of backward).
 */
export function gpuForward(
  gpu: Gpu,
  c: ModelConfig,
  m: GpuModel,
  acts: GpuActivations,
  batch: GpuBatchShape,
  gradScale: number,
  stats: GPUBuffer,
  lossIndex: number,
): void {
  const { B, T } = batch;
  const N = B * T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const V = c.vocabSize;
  const seg = batch.packed ? acts.seg : null;
  const s = acts.shared;
  embeddingForward(gpu, acts.layers[0]!.resid, acts.ids, m.embed.buffer, m.embed.format, N, C);
  for (let l = 0; l < c.numLayers; l++) {
    const w = m.layers[l]!;
    const a = acts.layers[l]!;
    const out = l + 1 < c.numLayers ? acts.layers[l + 1]!.resid : s.final;
    rmsnormForward(gpu, a.ln1, a.rstd1, a.resid, w.inputNorm, N, C, c.normEps);
    gpuLinearForward(gpu, a.q, a.ln1, w.q, N);
    gpuLinearForward(gpu, a.k, a.ln1, w.k, N);
    gpuLinearForward(gpu, a.v, a.ln1, w.v, N);
    ropeForward(gpu, a.q, acts.pos, m.ropeCos, m.ropeSin, N, c.numHeads, c.headDim, m.positions);
    ropeForward(gpu, a.k, acts.pos, m.ropeCos, m.ropeSin, N, c.numKvHeads, c.headDim, m.positions);
    attentionForward(gpu, a.att, a.lse, a.q, a.k, a.v, seg, B, T, c.numHeads, c.numKvHeads, c.headDim);
    gpuLinearForward(gpu, a.h, a.att, w.o, N);
    addInPlace(gpu, a.h, a.resid, N * C);
    rmsnormForward(gpu, a.ln2, a.rstd2, a.h, w.postNorm, N, C, c.normEps);
    gpuLinearForward(gpu, a.gate, a.ln2, w.gate, N);
    gpuLinearForward(gpu, a.up, a.ln2, w.up, N);
    swigluForward(gpu, a.act, a.gate, a.up, N * F);
    gpuLinearForward(gpu, out, a.act, w.down, N);
    addInPlace(gpu, out, a.h, N * C);
  }
  rmsnormForward(gpu, s.lnf, s.rstdf, s.final, m.finalNorm, N, C, c.normEps);
  matmul(gpu, "NT", s.logits, s.lnf, m.head.buffer, N, V, C, false, m.head.format);
  const train = gradScale > 0;
  crossEntropy(gpu, s.losses, train ? s.dlogits : null, s.logits, acts.targets, N, V, gradScale);
  sumInto(gpu, stats, lossIndex, s.losses, N, false);
  if (train) matmul(gpu, "NN", s.dlnf, s.dlogits, m.head.buffer, N, C, V, false, m.head.format);
}
