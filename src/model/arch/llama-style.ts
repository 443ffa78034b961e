/**
 * The Llama-style decoder, shared by the llama, mistral, qwen2 and qwen3 records: RMSNorm (eps from the config),
 * RoPE (rotate-half; rope_theta and rope_scaling at the top of config.json or in rope_parameters), grouped-query
 * attention, a SwiGLU MLP, optional tied embeddings, optional q/k/v biases (Qwen2, or `attention_bias: true`) and
 * optional q/k RMSNorm over head_dim before RoPE (Qwen3), and Gemma's variations: RMSNorm weights stored as w − 1
 * (scale 1 + w), embeddings scaled by √hidden, and a GeGLU MLP (tanh GELU on the gate); sliding-window attention
 * (Mistral's sliding_window; Qwen2 with use_sliding_window, on layers from max_window_layers up, as transformers'
 * layer_types). The block's forward and backward are in llama-block.ts.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { Linear } from "../../nn/linear.ts";
import { buildRopeTables, type RopeScaling, type RopeTables } from "../../nn/rope-tables.ts";
import type { ModelConfig } from "../config.ts";
import type { F32Param } from "../model.ts";
import { CONFIG_LIMITS, fieldReader, isObject, readEos } from "./config-fields.ts";
import {
  llamaEmbedBackward,
  llamaEmbedForward,
  llamaFinalBackward,
  llamaFinalForward,
  llamaInferenceStep,
  llamaLayerBackward,
  llamaLayerForward,
} from "./llama-block.ts";
import { llamaGguf } from "./llama-gguf.ts";
import type { BufferSizes, ModelFamily, ParamSpec } from "./spec.ts";

/** ModelConfig.arch of the Llama-style families. */
export interface LlamaArch {
  /** RoPE base frequency (`rope_theta`, default 10000). */
  ropeTheta: number;
  /** RoPE frequency scaling (`rope_scaling` or `rope_parameters`), null for plain RoPE. */
  ropeScaling: RopeScaling | null;
  /** q/k/v projections carry biases (Qwen2, or `attention_bias: true`). */
  qkvBias: boolean;
  /** RMSNorm over head_dim on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Every RMSNorm scales by normOffset + w: 0, or 1 for Gemma (whose norm weights are stored as w − 1). */
  normOffset: number;
  /** The token embedding is multiplied by this (1; Gemma: √hidden rounded to f32, the compute dtype). */
  embedScale: number;
  /** The MLP's gate activation: "silu" (SwiGLU) or "gelu_tanh" (GeGLU, Gemma's gelu_pytorch_tanh). */
  mlpAct: "silu" | "gelu_tanh";
  /** Sliding window (a query sees keys t − window < s ≤ t); absent: none. */
  slidingWindow?: number;
  /** The first layer with the sliding window (Qwen2's max_window_layers; 0 for Mistral); set with slidingWindow. */
  firstWindowLayer?: number;
}

/** The Llama-style settings of a config of one of these families. */
export function llamaArch(c: ModelConfig): LlamaArch {
  return c.arch as LlamaArch;
}

export interface LlamaLayer {
  inputNorm: F32Param; // [C]
  q: Linear; // [nHeads*hd, C]
  k: Linear; // [nKv*hd, C]
  v: Linear; // [nKv*hd, C]
  o: Linear; // [C, nHeads*hd]
  qNorm: F32Param | null; // [hd] (qwen3)
  kNorm: F32Param | null; // [hd] (qwen3)
  postNorm: F32Param; // [C]
  gate: Linear; // [F, C]
  up: Linear; // [F, C]
  down: Linear; // [C, F]
  /** This layer's sliding window (0 below firstWindowLayer or without one): 0 is the whole causal prefix. */
  window: number;
}

/** Weights outside the blocks (besides the embedding and the head). */
export interface LlamaTop {
  norm: F32Param; // [C]
  rope: RopeTables;
}

/** How one record differs from plain Llama. */
export interface LlamaStyleOptions {
  name: string;
  modelTypes: readonly string[];
  /** q/k/v biases always (Qwen2); otherwise only with config.json's `attention_bias: true`. */
  alwaysQkvBias?: boolean;
  /** q/k RMSNorm (Qwen3). */
  qkNorm?: boolean;
  /** Gemma: RMSNorm scale 1 + w, embeddings × √hidden, GeGLU with hidden_activation gelu_pytorch_tanh, tied head by default. */
  gemma?: boolean;
  /**
   * Where a sliding window comes from: "sliding_window" (Mistral: whenever config.json sets it, every layer),
   * "use_sliding_window" (Qwen2: only with use_sliding_window true, layers ≥ max_window_layers); absent: none.
   */
  slidingWindow?: "sliding_window" | "use_sliding_window";
  /** llama.cpp's architecture for it (GGUF export); absent: not exported. */
  ggufArch?: "llama" | "qwen2" | "qwen3";
}

const PREFIX = "model.layers.";

/** A family record of the Llama-style decoder. */
export function llamaStyleFamily(o: LlamaStyleOptions): ModelFamily<LlamaLayer, LlamaTop> {
  return {
    name: o.name,
    modelTypes: o.modelTypes,
    blockPrefix: PREFIX,
    headName: "lm_head.weight",
    defaultTargets: ["q_proj", "v_proj"],
    ...(o.ggufArch ? { gguf: llamaGguf(o.ggufArch, o.modelTypes[0]) } : {}),
    parseConfig: (raw, where) => parseLlamaConfig(raw, where, o),
    params: llamaParams,
    assemble(c, take, positions) {
      const { qkNorm, ropeTheta, ropeScaling, slidingWindow = 0, firstWindowLayer = 0 } = llamaArch(c);
      const layers: LlamaLayer[] = [];
      for (let i = 0; i < c.numLayers; i++) {
        const p = `${PREFIX}${i}`;
        layers.push({
          inputNorm: take.f32(`${p}.input_layernorm.weight`),
          q: take.linear(`${p}.self_attn.q_proj`),
          k: take.linear(`${p}.self_attn.k_proj`),
          v: take.linear(`${p}.self_attn.v_proj`),
          o: take.linear(`${p}.self_attn.o_proj`),
          qNorm: qkNorm ? take.f32(`${p}.self_attn.q_norm.weight`) : null,
          kNorm: qkNorm ? take.f32(`${p}.self_attn.k_norm.weight`) : null,
          postNorm: take.f32(`${p}.post_attention_layernorm.weight`),
          gate: take.linear(`${p}.mlp.gate_proj`),
          up: take.linear(`${p}.mlp.up_proj`),
          down: take.linear(`${p}.mlp.down_proj`),
          window: i >= firstWindowLayer ? slidingWindow : 0,
        });
      }
      const norm = take.f32("model.norm.weight");
      return { layers, top: { norm, rope: buildRopeTables(c.headDim, ropeTheta, ropeScaling, positions) } };
    },
    blockLinears: (l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down],
    blockParams: (l) => [l.inputNorm, l.qNorm, l.kNorm, l.postNorm].filter((v): v is F32Param => v !== null),
    topParams: (top) => [top.norm],
    activations(c, N) {
      const C = c.hiddenSize;
      const hq = c.numHeads * c.headDim;
      const hkv = c.numKvHeads * c.headDim;
      const F = c.intermediateSize;
      const qk = llamaArch(c).qkNorm;
      return {
        saved: {
          ln1: N * C,
          rstd1: N,
          ...(qk ? { qPre: N * hq, kPre: N * hkv, qRstd: N * c.numHeads, kRstd: N * c.numKvHeads } : {}),
          q: N * hq, // after RoPE
          k: N * hkv, // after RoPE
          v: N * hkv,
          att: N * hq,
          lse: N * c.numHeads, // [B, heads, T]
          h: N * C, // residual after attention
        },
        // The MLP, per row (llama-mlp.ts runs it in row chunks).
        rowSaved: { ln2: C, rstd2: 1, gate: F, up: F, act: F },
        top: { rstdf: N },
        scratch: {
          dln: N * C,
          dq: N * hq,
          dk: N * hkv,
          dv: N * hkv,
          ...(qk ? { dqPre: N * hq, dkPre: N * hkv } : {}),
          datt: N * hq,
        },
        // The MLP's backward writes d(gate) over its saved act and (SwiGLU, whose kernel may work in place) d(up)
        // over its saved up: llama-mlp.ts.
        rowScratch: { dact: F, ...(llamaArch(c).mlpAct === "gelu_tanh" ? { dup: F } : {}) },
      };
    },
    embedForward: llamaEmbedForward,
    embedBackward: llamaEmbedBackward,
    layerForward: llamaLayerForward,
    layerBackward: llamaLayerBackward,
    finalForward: llamaFinalForward,
    finalBackward: llamaFinalBackward,
    inferenceBuffers: llamaInferenceBuffers,
    inferenceStep: llamaInferenceStep,
  };
}

/**
 * The work buffers of one inference step over n rows of a Llama-style block (the names llama-block.ts reads): the
 * normed input, per-head rstd (q/k norms), q, k, v, the attention output, the block's hidden and the MLP's gate/up.
 */
export function llamaInferenceBuffers(c: ModelConfig, n: number): BufferSizes {
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  return {
    ln: n * C,
    rstd: n * c.numHeads,
    q: n * hq,
    k: n * hkv,
    v: n * hkv,
    att: n * hq,
    h: n * C,
    gate: n * F,
    up: n * F,
  };
}

/** Every tensor, in the order random init draws them. */
function llamaParams(c: ModelConfig): ParamSpec[] {
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const { qkvBias, qkNorm, normOffset } = llamaArch(c);
  // Gemma's norm weights are the w of a 1 + w scale: they start at zero (as Hugging Face initialises them).
  const normInit: Partial<ParamSpec> = normOffset !== 0 ? { init: "zeros" } : {};
  const out: ParamSpec[] = [
    {
      name: "model.embed_tokens.weight",
      shape: [c.vocabSize, C],
      role: "embedding",
      layer: null,
      ...(c.tieWordEmbeddings ? { tiedHead: true } : {}),
    },
  ];
  const linears: [name: string, out: number, inp: number, axes: ParamSpec["axes"], bias: boolean][] = [
    ["self_attn.q_proj", hq, C, { in: "hidden", out: "attention" }, qkvBias],
    ["self_attn.k_proj", hkv, C, { in: "hidden", out: "kv" }, qkvBias],
    ["self_attn.v_proj", hkv, C, { in: "hidden", out: "kv" }, qkvBias],
    ["self_attn.o_proj", C, hq, { in: "attention", out: "hidden" }, false],
    ["mlp.gate_proj", F, C, { in: "hidden", out: "intermediate" }, false],
    ["mlp.up_proj", F, C, { in: "hidden", out: "intermediate" }, false],
    ["mlp.down_proj", C, F, { in: "intermediate", out: "hidden" }, false],
  ];
  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `${PREFIX}${layer}`;
    const norm = (name: string, size: number): ParamSpec => ({
      name: `${p}.${name}`,
      shape: [size],
      role: "norm",
      layer,
      ...normInit,
    });
    out.push(norm("input_layernorm.weight", C), norm("post_attention_layernorm.weight", C));
    for (const [name, o, inp, axes, bias] of linears) {
      const group = name.startsWith("self_attn.") ? "attention" : "mlp";
      out.push({ name: `${p}.${name}.weight`, shape: [o, inp], role: "linear", layer, axes, group });
      if (bias) out.push({ name: `${p}.${name}.bias`, shape: [o], role: "bias", layer });
    }
    if (qkNorm) out.push(norm("self_attn.q_norm.weight", c.headDim), norm("self_attn.k_norm.weight", c.headDim));
  }
  out.push({ name: "model.norm.weight", shape: [C], role: "norm", layer: null, ...normInit });
  if (!c.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [c.vocabSize, C], role: "head", layer: null });
  return out;
}

type Json = Record<string, unknown>;

function parseLlamaConfig(raw: Json, where: string, o: LlamaStyleOptions): ModelConfig {
  const get = fieldReader(raw, where);
  const modelType = get.string("model_type");
  const mlpAct = readActivation(raw, where, o.gemma === true);
  if (raw.mlp_bias === true) throw new LoratuneError("ERR_UNSUPPORTED", `${where}: mlp_bias true is not supported`);

  const hiddenSize = get.positiveInt("hidden_size");
  const numHeads = get.positiveInt("num_attention_heads");
  const numKvHeads = raw.num_key_value_heads == null ? numHeads : get.positiveInt("num_key_value_heads");
  if (numHeads % numKvHeads !== 0) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : get.positiveInt("head_dim");
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new LoratuneError("ERR_CONFIG", `${where}: head dimension ${headDim} must be an even integer`);
  }
  const rope = readRope(raw, where);
  const arch: LlamaArch = {
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    qkvBias: o.alwaysQkvBias === true || raw.attention_bias === true,
    qkNorm: o.qkNorm === true,
    normOffset: o.gemma ? 1 : 0,
    embedScale: o.gemma ? Math.fround(Math.sqrt(hiddenSize)) : 1,
    mlpAct,
    ...readSlidingWindow(raw, where, o),
  };
  return {
    modelType,
    hiddenSize,
    numLayers: get.positiveInt("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: get.positiveInt("intermediate_size"),
    vocabSize: get.positiveInt("vocab_size"),
    maxPositions: raw.max_position_embeddings == null ? 2048 : get.positiveInt("max_position_embeddings"),
    normEps: raw.rms_norm_eps == null ? 1e-6 : get.positiveNumber("rms_norm_eps"),
    tieWordEmbeddings: raw.tie_word_embeddings == null ? o.gemma === true : get.boolean("tie_word_embeddings"),
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: readEos(raw.eos_token_id),
    arch,
  };
}

/** Gemma's GeGLU activations: the tanh GELU under Hugging Face's names. */
const TANH_GELU = ["gelu_pytorch_tanh", "gelu_new"];

/**
 * The MLP activation. Llama-style: hidden_act (or hidden_activation) silu. Gemma: hidden_activation, absent meaning
 * gelu_pytorch_tanh (Hugging Face's Gemma ignores the older hidden_act field, "gelu" in the first checkpoints).
 */
function readActivation(raw: Json, where: string, gemma: boolean): LlamaArch["mlpAct"] {
  if (gemma) {
    const act = raw.hidden_activation ?? "gelu_pytorch_tanh";
    if (typeof act === "string" && TANH_GELU.includes(act)) return "gelu_tanh";
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: hidden_activation ${previewJson(act)} is not supported (${TANH_GELU.join(", ")})`,
    );
  }
  const act = raw.hidden_act ?? raw.hidden_activation ?? "silu";
  if (act !== "silu")
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: hidden_act ${previewJson(act)} is not supported (silu)`);
  return "silu";
}

/** The sliding window of a config and the first layer it applies to; {} for none. */
function readSlidingWindow(
  raw: Json,
  where: string,
  o: LlamaStyleOptions,
): { slidingWindow?: number; firstWindowLayer?: number } {
  if (o.slidingWindow === undefined || raw.sliding_window == null) return {};
  if (o.slidingWindow === "use_sliding_window" && raw.use_sliding_window !== true) return {};
  const get = fieldReader(raw, where);
  const slidingWindow = get.positiveInt("sliding_window", CONFIG_LIMITS.max_position_embeddings);
  if (o.slidingWindow === "sliding_window") return { slidingWindow, firstWindowLayer: 0 };
  // transformers' Qwen2Config: max_window_layers defaults to 28; layers from it up use the window.
  const mwl = raw.max_window_layers ?? 28;
  if (typeof mwl !== "number" || !Number.isInteger(mwl) || mwl < 0) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: "max_window_layers" must be a non-negative integer (got ${previewJson(mwl)})`,
    );
  }
  return { slidingWindow, firstWindowLayer: mwl };
}

/** RoPE from top-level rope_theta/rope_scaling or from newer files' rope_parameters. */
function readRope(raw: Json, where: string): { theta: number; scaling: RopeScaling | null } {
  const params = isObject(raw.rope_parameters) ? raw.rope_parameters : null;
  const thetaValue = raw.rope_theta ?? params?.rope_theta ?? 10000;
  if (typeof thetaValue !== "number" || !(thetaValue > 0) || !Number.isFinite(thetaValue)) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: rope_theta must be a positive finite number (got ${previewJson(thetaValue)})`,
    );
  }
  const scaling = raw.rope_scaling ?? params ?? null;
  if (scaling === null) return { theta: thetaValue, scaling: null };
  if (!isObject(scaling)) {
    throw new LoratuneError("ERR_CONFIG", `${where}: rope_scaling must be an object (got ${previewJson(scaling)})`);
  }
  const type = scaling.rope_type ?? scaling.type ?? "default";
  if (type === "default") return { theta: thetaValue, scaling: null };
  const num = (key: string): number => {
    const v = scaling[key];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new LoratuneError(
        "ERR_CONFIG",
        `${where}: rope scaling ${previewJson(type)} needs a positive number ${key} (got ${previewJson(v)})`,
      );
    }
    return v;
  };
  if (type === "linear") return { theta: thetaValue, scaling: { type: "linear", factor: num("factor") } };
  if (type === "llama3") {
    return {
      theta: thetaValue,
      scaling: {
        type: "llama3",
        factor: num("factor"),
        lowFreqFactor: num("low_freq_factor"),
        highFreqFactor: num("high_freq_factor"),
        originalMaxPositions: num("original_max_position_embeddings"),
      },
    };
  }
  throw new LoratuneError(
    "ERR_UNSUPPORTED",
    `${where}: rope scaling type ${previewJson(type)} is not supported (supported: linear, llama3)`,
  );
}
