/// <reference types="@webgpu/types" />
/**
 * The backward pass on the GPU, the mirror of forward.ts in the CPU's order (model/backward.ts,
 * llama-block.ts, llama-mlp.ts): from dlnf through the final norm and the blocks, last to first. Only the LoRA
 * tensors take gradients (they accumulate into dA, dB); the base weights and norms are frozen, so below layer 0
 * nothing needs the input gradient and its q/k/v input gradients and norm backward are skipped, as on the CPU.
 * N = B·T rows; C hidden; F intermediate.
 */
import { addInPlace } from "../kernels/webgpu/add.ts";
import { attentionBackward } from "../kernels/webgpu/attention-backward.ts";
import type { Gpu } from "../kernels/webgpu/gpu.ts";
import { rmsnormBackward } from "../kernels/webgpu/rmsnorm.ts";
import { ropeBackward } from "../kernels/webgpu/rope.ts";
import { swigluBackward } from "../kernels/webgpu/swiglu.ts";
import type { ModelConfig } from "../model/config.ts";
import type { GpuActivations } from "./activations.ts";
import type { GpuBatchShape } from "./forward.ts";
import type { GpuModel } from "./gpu-model.ts";
import { gpuLinearBackward } from "./linear.ts";

/** Accumulates the batch's LoRA gradients (the forward with a gradient scale must have run just before). */
export function gpuBackward(gpu: Gpu, c: ModelConfig, m: GpuModel, acts: GpuActivations, batch: GpuBatchShape): void {
  const { B, T } = batch;
  const N = B * T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const seg = batch.packed ? acts.seg : null;
  const s = acts.shared;
  rmsnormBackward(gpu, s.dres, null, s.dlnf, s.final, m.finalNorm, s.rstdf, N, C);
  for (let l = c.numLayers - 1; l >= 0; l--) {
    const w = m.layers[l]!;
    const a = acts.layers[l]!;
    // MLP: out = h + down(silu(gate(ln2)) ⊙ up(ln2)); leaves dres = d(h).
    gpuLinearBackward(gpu, s.dact, s.dres, a.act, w.down, N, s.dxa, false);
    swigluBackward(gpu, s.dgate, s.dup, s.dact, a.gate, a.up, N * F);
    gpuLinearBackward(gpu, s.dln, s.dgate, a.ln2, w.gate, N, s.dxa, false);
    gpuLinearBackward(gpu, s.dln, s.dup, a.ln2, w.up, N, s.dxa, true);
    rmsnormBackward(gpu, s.dtmp, null, s.dln, a.h, w.postNorm, a.rstd2, N, C);
    addInPlace(gpu, s.dres, s.dtmp, N * C);
    // Attention: h = x + o(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))), ln1 = rmsnorm(x).
    gpuLinearBackward(gpu, s.datt, s.dres, a.att, w.o, N, s.dxa, false);
    const hd = c.headDim;
    attentionBackward(
      gpu,
      s.dq,
      s.dk,
      s.dv,
      s.datt,
      a.q,
      a.k,
      a.v,
      a.att,
      a.lse,
      seg,
      B,
      T,
      c.numHeads,
      c.numKvHeads,
      hd,
    );
    ropeBackward(gpu, s.dq, acts.pos, m.ropeCos, m.ropeSin, N, c.numHeads, hd, m.positions);
    ropeBackward(gpu, s.dk, acts.pos, m.ropeCos, m.ropeSin, N, c.numKvHeads, hd, m.positions);
    const needDln = l > 0; // frozen embeddings and norms: nothing below layer 0 takes a gradient
    const dIn = needDln ? s.dln : null;
    gpuLinearBackward(gpu, dIn, s.dq, a.ln1, w.q, N, s.dxa, false);
    gpuLinearBackward(gpu, dIn, s.dk, a.ln1, w.k, N, s.dxa, true);
    gpuLinearBackward(gpu, dIn, s.dv, a.ln1, w.v, N, s.dxa, true);
    if (!needDln) continue;
    rmsnormBackward(gpu, s.dtmp, null, s.dln, a.resid, w.inputNorm, a.rstd1, N, C);
    addInPlace(gpu, s.dres, s.dtmp, N * C); // dres = d(x)
  }
}
