/**
 * The Llama-family model: weights keyed by their Hugging Face names, in PyTorch shape order, assembled into layers.
 * llama, mistral, qwen2 (q/k/v biases) and qwen3 (q/k RMSNorm) share this one structure.
 */
import { LoratuneError } from "../errors.ts";
import { bf16ToF32 } from "../io/dtype.ts";
import type { FileDType } from "../io/safetensors.ts";
import type { Linear } from "../nn/linear.ts";
import type { StorageDType, StoredTensor } from "../tensor/stored-tensor.ts";
import type { ModelConfig } from "./config.ts";
import { buildRopeTables, type RopeTables } from "./rope-tables.ts";

/** A 1-D f32 parameter (norm weight) with its gradient in full fine-tuning. */
export interface Vector {
  name: string;
  data: Float32Array;
  grad: Float32Array | null;
}

export interface LlamaLayer {
  inputNorm: Vector; // [C]
  q: Linear; // [nHeads*hd, C]
  k: Linear; // [nKv*hd, C]
  v: Linear; // [nKv*hd, C]
  o: Linear; // [C, nHeads*hd]
  qNorm: Vector | null; // [hd] (qwen3)
  kNorm: Vector | null; // [hd] (qwen3)
  postNorm: Vector; // [C]
  gate: Linear; // [F, C]
  up: Linear; // [F, C]
  down: Linear; // [C, F]
}

export interface LlamaModel {
  config: ModelConfig;
  dtype: StorageDType;
  /** dtype of the checkpoint's weights on disk (what a merged model is written back as). */
  sourceDtype: FileDType;
  embed: StoredTensor; // [V, C]
  /** Gradient of the embedding table (full fine-tuning; receives the tied head's gradient too). */
  dEmbed: Float32Array | null;
  layers: LlamaLayer[];
  norm: Vector; // [C]
  /** The output head [V, C]: the embedding table itself when tie_word_embeddings. */
  lmHead: StoredTensor;
  dLmHead: Float32Array | null;
  rope: RopeTables;
}

/** Every linear of the model except the output head, in a stable order (layer by layer, q k v o gate up down). */
export function modelLinears(model: LlamaModel): Linear[] {
  return model.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]);
}

/** Builds the model from tensors keyed by HF names; lists every missing or mis-shaped tensor in one error. */
export function assembleModel(
  config: ModelConfig,
  tensors: Map<string, StoredTensor>,
  dtype: StorageDType,
  source: string,
  ropeMaxPositions = config.maxPositions,
  sourceDtype: FileDType = "F32",
): LlamaModel {
  const problems: string[] = [];
  const take = (name: string, shape: number[]): StoredTensor => {
    const t = tensors.get(name);
    if (!t) {
      problems.push(`missing ${name} [${shape.join(", ")}]`);
      return { dtype, shape, data: dtype === "f32" ? new Float32Array(0) : new Uint16Array(0) };
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
    }
    return t;
  };
  const vector = (name: string, size: number): Vector => ({ name, data: toF32(take(name, [size])), grad: null });
  const linear = (name: string, out: number, inp: number, bias: boolean): Linear => ({
    name,
    inFeatures: inp,
    outFeatures: out,
    weight: take(`${name}.weight`, [out, inp]),
    bias: bias ? toF32(take(`${name}.bias`, [out])) : null,
    dWeight: null,
    dBias: null,
    lora: null,
  });

  const c = config;
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const embed = take("model.embed_tokens.weight", [c.vocabSize, C]);
  const layers: LlamaLayer[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    layers.push({
      inputNorm: vector(`${p}.input_layernorm.weight`, C),
      q: linear(`${p}.self_attn.q_proj`, hq, C, c.qkvBias),
      k: linear(`${p}.self_attn.k_proj`, hkv, C, c.qkvBias),
      v: linear(`${p}.self_attn.v_proj`, hkv, C, c.qkvBias),
      o: linear(`${p}.self_attn.o_proj`, C, hq, false),
      qNorm: c.qkNorm ? vector(`${p}.self_attn.q_norm.weight`, c.headDim) : null,
      kNorm: c.qkNorm ? vector(`${p}.self_attn.k_norm.weight`, c.headDim) : null,
      postNorm: vector(`${p}.post_attention_layernorm.weight`, C),
      gate: linear(`${p}.mlp.gate_proj`, c.intermediateSize, C, false),
      up: linear(`${p}.mlp.up_proj`, c.intermediateSize, C, false),
      down: linear(`${p}.mlp.down_proj`, C, c.intermediateSize, false),
    });
  }
  const norm = vector("model.norm.weight", C);
  const lmHead = c.tieWordEmbeddings ? embed : take("lm_head.weight", [c.vocabSize, C]);
  if (problems.length > 0) {
    throw new LoratuneError(
      "ERR_SAFETENSORS_TENSOR",
      `${source}: the weights do not fit the config:\n  ${problems.join("\n  ")}`,
    );
  }
  const rope = buildRopeTables(c.headDim, c.ropeTheta, c.ropeScaling, ropeMaxPositions);
  return { config, dtype, sourceDtype, embed, dEmbed: null, layers, norm, lmHead, dLmHead: null, rope };
}

function toF32(t: StoredTensor): Float32Array {
  if (t.dtype === "f32") return t.data as Float32Array;
  const out = new Float32Array(t.data.length);
  bf16ToF32(out, t.data as Uint16Array, out.length);
  return out;
}

/** Parameter count of the base model (the tied head counted once). */
export function countBaseParameters(model: LlamaModel): number {
  let n = model.embed.data.length + model.norm.data.length;
  if (model.lmHead !== model.embed) n += model.lmHead.data.length;
  for (const l of model.layers) {
    n += l.inputNorm.data.length + l.postNorm.data.length;
    n += (l.qNorm?.data.length ?? 0) + (l.kNorm?.data.length ?? 0);
    for (const lin of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) n += lin.weight.data.length + (lin.bias?.length ?? 0);
  }
  return n;
}
