/**
 * Llama backward pass, the mirror of forward.ts: from acts.dlnf (filled by the chunked loss) down to the
 * embeddings. Parameter gradients accumulate into the model's dWeight/dA/dB/grad buffers; frozen weights get none.
 * With activation checkpointing (acts.checkpoint) each layer below the last first runs its forward again from its
 * saved input, refilling the shared work buffers (LoRA dropout replays the masks of the first run).
 */
import type { Kernels } from "../kernels/types.ts";
import { linearBackward } from "../nn/linear.ts";
import type { Activations, LayerActivations } from "./activations.ts";
import { layerForward, type ModelInput } from "./forward.ts";
import type { LlamaLayer, LlamaModel } from "./llama.ts";

export function backward(k: Kernels, model: LlamaModel, acts: Activations, input: ModelInput): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  // dres = gradient w.r.t. the residual stream after the last layer.
  k.rmsnormBackward(acts.dres, model.norm.grad, acts.dlnf, acts.final, model.norm.data, acts.rstdf, N, C);
  for (let l = c.numLayers - 1; l >= 0; l--) {
    // The last layer's work buffers still hold its forward; dtmp is free scratch for the recomputed output.
    if (acts.checkpoint && l < c.numLayers - 1) {
      layerForward(k, model, model.layers[l]!, acts.layers[l]!, acts.dtmp, input, "replay");
    }
    // Below layer 0 only the embedding table (and the first input norm) can take a gradient.
    const needInputGrad = l > 0 || model.dEmbed !== null || model.layers[0]!.inputNorm.grad !== null;
    layerBackward(k, model, model.layers[l]!, acts.layers[l]!, acts, input, needInputGrad);
  }
  if (model.dEmbed) k.embeddingBackward(model.dEmbed, acts.dres, input.ids, N, C);
}

/** On entry acts.dres = d(layer output); on exit acts.dres = d(layer input) (unless needInputGrad is false). */
function layerBackward(
  k: Kernels,
  model: LlamaModel,
  w: LlamaLayer,
  a: LayerActivations,
  acts: Activations,
  input: ModelInput,
  needInputGrad: boolean,
): void {
  const c = model.config;
  const N = input.B * input.T;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const { dres, dtmp, dln, dxa } = acts;
  const lc = (name: string) => a.lora.get(name) ?? null;

  // MLP: out = h + down(silu(gate(ln2)) * up(ln2)), ln2 = rmsnorm(h)
  linearBackward(k, acts.dact, dres, a.act, w.down, N, lc(w.down.name), dxa, false);
  k.swigluBackward(acts.dgate, acts.dup, acts.dact, a.gate, a.up, N * F);
  linearBackward(k, dln, acts.dgate, a.ln2, w.gate, N, lc(w.gate.name), dxa, false);
  linearBackward(k, dln, acts.dup, a.ln2, w.up, N, lc(w.up.name), dxa, true);
  k.rmsnormBackward(dtmp, w.postNorm.grad, dln, a.h, w.postNorm.data, a.rstd2, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(h)

  // Attention: h = resid + o(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))), ln1 = rmsnorm(resid)
  linearBackward(k, acts.datt, dres, a.att, w.o, N, lc(w.o.name), dxa, false);
  k.attentionBackward(
    acts.dq,
    acts.dk,
    acts.dv,
    acts.datt,
    a.q,
    a.k,
    a.v,
    a.att,
    a.lse,
    input.seg,
    input.B,
    input.T,
    c.numHeads,
    c.numKvHeads,
    c.headDim,
  );
  k.ropeBackward(acts.dq, input.pos, model.rope.cos, model.rope.sin, N, c.numHeads, c.headDim);
  k.ropeBackward(acts.dk, input.pos, model.rope.cos, model.rope.sin, N, c.numKvHeads, c.headDim);
  let dq = acts.dq;
  let dk = acts.dk;
  if (w.qNorm && w.kNorm && a.qPre && a.kPre && a.qRstd && a.kRstd && acts.dqPre && acts.dkPre) {
    k.rmsnormBackward(acts.dqPre, w.qNorm.grad, dq, a.qPre, w.qNorm.data, a.qRstd, N * c.numHeads, c.headDim);
    k.rmsnormBackward(acts.dkPre, w.kNorm.grad, dk, a.kPre, w.kNorm.data, a.kRstd, N * c.numKvHeads, c.headDim);
    dq = acts.dqPre;
    dk = acts.dkPre;
  }
  const dIn = needInputGrad ? dln : null;
  linearBackward(k, dIn, dq, a.ln1, w.q, N, lc(w.q.name), dxa, false);
  linearBackward(k, dIn, dk, a.ln1, w.k, N, lc(w.k.name), dxa, true);
  linearBackward(k, dIn, acts.dv, a.ln1, w.v, N, lc(w.v.name), dxa, true);
  if (!needInputGrad) return;
  k.rmsnormBackward(dtmp, w.inputNorm.grad, dln, a.resid, w.inputNorm.data, a.rstd1, N, C);
  k.addInPlace(dres, dtmp, N * C); // dres = d(resid)
}
