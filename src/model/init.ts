/**
 * Random initialisation of a Llama-family model (as transformers' _init_weights): every linear and embedding
 * weight ~ N(0, std), biases 0, RMSNorm weights 1. Seeded and deterministic. Used to make new base models
 * (the bundled demo model, benchmarks) and by tests.
 */

import { alignedFloat32 } from "../tensor/aligned.ts";
import { Rng } from "../tensor/rng.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { ModelConfig } from "./config.ts";

/** HF-named tensor shapes of a config, in a stable order. */
export function modelTensorShapes(c: ModelConfig): [name: string, shape: number[], kind: "weight" | "norm" | "bias"][] {
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const out: [string, number[], "weight" | "norm" | "bias"][] = [
    ["model.embed_tokens.weight", [c.vocabSize, C], "weight"],
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [C], "norm"], [`${p}.post_attention_layernorm.weight`, [C], "norm"]);
    const linears: [string, number, number][] = [
      ["self_attn.q_proj", hq, C],
      ["self_attn.k_proj", hkv, C],
      ["self_attn.v_proj", hkv, C],
      ["self_attn.o_proj", C, hq],
      ["mlp.gate_proj", F, C],
      ["mlp.up_proj", F, C],
      ["mlp.down_proj", C, F],
    ];
    for (const [name, o, inp] of linears) {
      out.push([`${p}.${name}.weight`, [o, inp], "weight"]);
      if (c.qkvBias && /[qkv]_proj/.test(name)) out.push([`${p}.${name}.bias`, [o], "bias"]);
    }
    if (c.qkNorm)
      out.push(
        [`${p}.self_attn.q_norm.weight`, [c.headDim], "norm"],
        [`${p}.self_attn.k_norm.weight`, [c.headDim], "norm"],
      );
  }
  out.push(["model.norm.weight", [C], "norm"]);
  if (!c.tieWordEmbeddings) out.push(["lm_head.weight", [c.vocabSize, C], "weight"]);
  return out;
}

export interface InitOptions {
  seed: number;
  /** Standard deviation of weights (default 0.02, as initializer_range). */
  std?: number;
  /** Standard deviation of a jitter added to norm weights (default 0: exactly 1). */
  normJitter?: number;
  /** Standard deviation of biases (default 0). */
  biasStd?: number;
}

export function initModelTensors(c: ModelConfig, o: InitOptions): Map<string, StoredTensor> {
  const rng = new Rng(o.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const std = o.std ?? 0.02;
  const tensors = new Map<string, StoredTensor>();
  for (const [name, shape, kind] of modelTensorShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = alignedFloat32(n);
    for (let i = 0; i < n; i++) {
      if (kind === "norm") data[i] = 1 + (o.normJitter ?? 0) * normal();
      else if (kind === "bias") data[i] = (o.biasStd ?? 0) * normal();
      else data[i] = std * normal();
    }
    tensors.set(name, { dtype: "f32", shape, data });
  }
  return tensors;
}
