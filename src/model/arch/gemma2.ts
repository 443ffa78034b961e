/**
 * Gemma 2 (model_type gemma2): Gemma's RMSNorm (1 + w), √hidden embedding scale, GeGLU and free head_dim, plus
 * - four norms a block: input_layernorm before attention, post_attention_layernorm on the attention's output
 *   before the residual add, pre_feedforward_layernorm before the MLP, post_feedforward_layernorm on its output;
 * - attention scaled by query_pre_attn_scalar^-0.5 with logits soft-capped at attn_logit_softcapping
 *   (nn/capped-attention.ts);
 * - sliding-window attention (sliding_window keys) on even layers, global on odd ones;
 * - output logits soft-capped at final_logit_softcapping (ModelFamily.logitSoftcap).
 * The block is in gemma2-block.ts. GGUF: llama.cpp's gemma2 architecture (gemma-gguf.ts).
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { Linear } from "../../nn/linear.ts";
import { buildRopeTables, type RopeScaling, type RopeTables } from "../../nn/rope-tables.ts";
import type { ModelConfig } from "../config.ts";
import type { F32Param } from "../model.ts";
import { fieldReader, readEos } from "./config-fields.ts";
import { gemmaGguf } from "./gemma-gguf.ts";
import {
  gemma2EmbedBackward,
  gemma2EmbedForward,
  gemma2FinalBackward,
  gemma2FinalForward,
  gemma2InferenceStep,
  gemma2LayerBackward,
  gemma2LayerForward,
} from "./gemma2-block.ts";
import { llamaInferenceBuffers } from "./llama-style.ts";
import type { ModelFamily, ParamSpec } from "./spec.ts";

/** ModelConfig.arch of gemma2 (and gemma3_text, gemma3.ts, which reads the same record with its own options). */
export interface Gemma2Arch {
  /** RoPE base of the global layers (rope_theta) and their scaling (Gemma 3's rope_scaling), null for none. */
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** RoPE base of the sliding layers when it differs (Gemma 3's rope_local_base_freq); null: rope_theta. */
  localRopeTheta: number | null;
  /** RMSNorm (1 + w) over head_dim on q and k before RoPE (Gemma 3). */
  qkNorm: boolean;
  /** Which layers attend through the sliding window (Gemma 2: the even ones). */
  slidingLayers: boolean[];
  /** Score scale: query_pre_attn_scalar^-0.5. */
  attnScale: number;
  /** attn_logit_softcapping, 0 for none. */
  attnSoftcap: number;
  /** final_logit_softcapping, 0 for none. */
  finalSoftcap: number;
  /** Keys a local (even) layer's query sees, itself included. */
  slidingWindow: number;
  /** √hidden in f32. */
  embedScale: number;
}

export interface Gemma2Layer {
  inputNorm: F32Param; // [C]
  q: Linear; // [nHeads*hd, C]
  k: Linear; // [nKv*hd, C]
  v: Linear; // [nKv*hd, C]
  o: Linear; // [C, nHeads*hd]
  qNorm: F32Param | null; // [hd] (Gemma 3)
  kNorm: F32Param | null; // [hd]
  postAttnNorm: F32Param; // [C]
  preFfNorm: F32Param; // [C]
  gate: Linear; // [F, C]
  up: Linear; // [F, C]
  down: Linear; // [C, F]
  postFfNorm: F32Param; // [C]
  /** The attention's key window: sliding_window on sliding layers, 0 (the whole prefix) on global ones. */
  window: number;
  /** The layer's RoPE tables (Gemma 3's sliding layers have their own base). */
  rope: RopeTables;
}

export interface Gemma2Top {
  norm: F32Param; // [C]
}

const PREFIX = "model.layers.";
const NORMS = [
  "input_layernorm",
  "post_attention_layernorm",
  "pre_feedforward_layernorm",
  "post_feedforward_layernorm",
];

export function gemma2Arch(c: ModelConfig): Gemma2Arch {
  return c.arch as Gemma2Arch;
}

export const gemma2: ModelFamily<Gemma2Layer, Gemma2Top> = {
  name: "gemma2",
  modelTypes: ["gemma2"],
  blockPrefix: PREFIX,
  headName: "lm_head.weight",
  defaultTargets: ["q_proj", "v_proj"],
  gguf: gemmaGguf("gemma2"),
  logitSoftcap: (c) => gemma2Arch(c).finalSoftcap,
  parseConfig: parseGemma2Config,
  params: gemma2Params,
  assemble(c, take, positions) {
    const a = gemma2Arch(c);
    const globalRope = buildRopeTables(c.headDim, a.ropeTheta, a.ropeScaling, positions);
    const localRope =
      a.localRopeTheta === null ? globalRope : buildRopeTables(c.headDim, a.localRopeTheta, null, positions);
    const layers: Gemma2Layer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const sliding = a.slidingLayers[i] === true;
      const p = `${PREFIX}${i}`;
      layers.push({
        inputNorm: take.f32(`${p}.input_layernorm.weight`),
        q: take.linear(`${p}.self_attn.q_proj`),
        k: take.linear(`${p}.self_attn.k_proj`),
        v: take.linear(`${p}.self_attn.v_proj`),
        o: take.linear(`${p}.self_attn.o_proj`),
        qNorm: a.qkNorm ? take.f32(`${p}.self_attn.q_norm.weight`) : null,
        kNorm: a.qkNorm ? take.f32(`${p}.self_attn.k_norm.weight`) : null,
        postAttnNorm: take.f32(`${p}.post_attention_layernorm.weight`),
        preFfNorm: take.f32(`${p}.pre_feedforward_layernorm.weight`),
        gate: take.linear(`${p}.mlp.gate_proj`),
        up: take.linear(`${p}.mlp.up_proj`),
        down: take.linear(`${p}.mlp.down_proj`),
        postFfNorm: take.f32(`${p}.post_feedforward_layernorm.weight`),
        window: sliding ? a.slidingWindow : 0,
        rope: sliding ? localRope : globalRope,
      });
    }
    return { layers, top: { norm: take.f32("model.norm.weight") } };
  },
  blockLinears: (l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down],
  blockParams: (l) =>
    [l.inputNorm, l.qNorm, l.kNorm, l.postAttnNorm, l.preFfNorm, l.postFfNorm].filter((p): p is F32Param => p !== null),
  topParams: (top) => [top.norm],
  activations(c, N) {
    const C = c.hiddenSize;
    const hq = c.numHeads * c.headDim;
    const hkv = c.numKvHeads * c.headDim;
    const F = c.intermediateSize;
    const qk = gemma2Arch(c).qkNorm;
    return {
      saved: {
        ln1: N * C,
        rstd1: N,
        ...(qk ? { qPre: N * hq, kPre: N * hkv, qRstd: N * c.numHeads, kRstd: N * c.numKvHeads } : {}),
        q: N * hq, // after RoPE
        k: N * hkv, // after RoPE
        v: N * hkv,
        att: N * hq,
        lse: N * c.numHeads,
        ao: N * C, // o_proj's output
        rstdPa: N,
        h: N * C, // residual after attention
        ln2: N * C,
        rstd2: N,
        gate: N * F,
        up: N * F,
        act: N * F,
        mo: N * C, // down_proj's output
        rstdPf: N,
      },
      rowSaved: {},
      top: { rstdf: N },
      scratch: {
        dln: N * C,
        dq: N * hq,
        dk: N * hkv,
        dv: N * hkv,
        ...(qk ? { dqPre: N * hq, dkPre: N * hkv } : {}),
        datt: N * hq,
        dao: N * C,
        dact: N * F,
        dgate: N * F,
        dup: N * F,
      },
      rowScratch: {},
    };
  },
  embedForward: gemma2EmbedForward,
  embedBackward: gemma2EmbedBackward,
  layerForward: gemma2LayerForward,
  layerBackward: gemma2LayerBackward,
  finalForward: gemma2FinalForward,
  finalBackward: gemma2FinalBackward,
  // The same buffers as a Llama block: gemma2-block.ts reads them under the same names.
  inferenceBuffers: llamaInferenceBuffers,
  inferenceStep: gemma2InferenceStep,
};

/** Every tensor, in the order random init draws them; norm weights (the w of 1 + w) start at zero. */
function gemma2Params(c: ModelConfig): ParamSpec[] {
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const qkNorm = gemma2Arch(c).qkNorm;
  const out: ParamSpec[] = [
    {
      name: "model.embed_tokens.weight",
      shape: [c.vocabSize, C],
      role: "embedding",
      layer: null,
      ...(c.tieWordEmbeddings ? { tiedHead: true } : {}),
    },
  ];
  const linears: [name: string, out: number, inp: number, axes: ParamSpec["axes"]][] = [
    ["self_attn.q_proj", hq, C, { in: "hidden", out: "attention" }],
    ["self_attn.k_proj", hkv, C, { in: "hidden", out: "kv" }],
    ["self_attn.v_proj", hkv, C, { in: "hidden", out: "kv" }],
    ["self_attn.o_proj", C, hq, { in: "attention", out: "hidden" }],
    ["mlp.gate_proj", F, C, { in: "hidden", out: "intermediate" }],
    ["mlp.up_proj", F, C, { in: "hidden", out: "intermediate" }],
    ["mlp.down_proj", C, F, { in: "intermediate", out: "hidden" }],
  ];
  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `${PREFIX}${layer}`;
    for (const norm of NORMS) {
      out.push({ name: `${p}.${norm}.weight`, shape: [C], role: "norm", layer, init: "zeros" });
    }
    for (const [name, o, inp, axes] of linears) {
      const group = name.startsWith("self_attn.") ? "attention" : "mlp";
      out.push({ name: `${p}.${name}.weight`, shape: [o, inp], role: "linear", layer, axes, group });
    }
    if (qkNorm) {
      for (const norm of ["self_attn.q_norm", "self_attn.k_norm"]) {
        out.push({ name: `${p}.${norm}.weight`, shape: [c.headDim], role: "norm", layer, init: "zeros" });
      }
    }
  }
  out.push({ name: "model.norm.weight", shape: [C], role: "norm", layer: null, init: "zeros" });
  if (!c.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [c.vocabSize, C], role: "head", layer: null });
  return out;
}

type Json = Record<string, unknown>;

const TANH_GELU = ["gelu_pytorch_tanh", "gelu_new"];

function parseGemma2Config(raw: Json, where: string): ModelConfig {
  if (raw.rope_scaling != null) {
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: rope_scaling is not supported for gemma2`);
  }
  const numLayers = fieldReader(raw, where).positiveInt("num_hidden_layers");
  return parseGemmaConfig(raw, where, {
    ropeScaling: null,
    localRopeTheta: null,
    qkNorm: false,
    slidingLayers: Array.from({ length: numLayers }, (_, i) => i % 2 === 0),
  });
}

/** What a Gemma generation reads its own way (Gemma 2: even layers sliding, one RoPE base, no q/k norms). */
export type GemmaVariant = Pick<Gemma2Arch, "ropeScaling" | "localRopeTheta" | "qkNorm" | "slidingLayers">;

/** The config.json keys Gemma 2 and 3 share, with the generation's own settings. */
export function parseGemmaConfig(raw: Json, where: string, variant: GemmaVariant): ModelConfig {
  const get = fieldReader(raw, where);
  const act = raw.hidden_activation ?? "gelu_pytorch_tanh";
  if (typeof act !== "string" || !TANH_GELU.includes(act)) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: hidden_activation ${previewJson(act)} is not supported (${TANH_GELU.join(", ")})`,
    );
  }
  if (raw.attention_bias === true) {
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: attention_bias true is not supported`);
  }
  const hiddenSize = get.positiveInt("hidden_size");
  const numHeads = get.positiveInt("num_attention_heads");
  const numKvHeads = raw.num_key_value_heads == null ? numHeads : get.positiveInt("num_key_value_heads");
  if (numHeads % numKvHeads !== 0) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  const headDim = raw.head_dim == null ? 256 : get.positiveInt("head_dim");
  if (headDim % 2 !== 0) throw new LoratuneError("ERR_CONFIG", `${where}: head_dim ${headDim} must be even`);
  const optionalCap = (key: string): number => (raw[key] == null ? 0 : get.positiveNumber(key));
  const arch: Gemma2Arch = {
    ...variant,
    ropeTheta: raw.rope_theta == null ? 10000 : get.positiveNumber("rope_theta"),
    attnScale: (raw.query_pre_attn_scalar == null ? 256 : get.positiveNumber("query_pre_attn_scalar")) ** -0.5,
    attnSoftcap: optionalCap("attn_logit_softcapping"),
    finalSoftcap: optionalCap("final_logit_softcapping"),
    slidingWindow: raw.sliding_window == null ? 4096 : get.positiveInt("sliding_window", 1 << 24),
    embedScale: Math.fround(Math.sqrt(hiddenSize)),
  };
  return {
    modelType: get.string("model_type"),
    hiddenSize,
    numLayers: get.positiveInt("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: get.positiveInt("intermediate_size"),
    vocabSize: get.positiveInt("vocab_size"),
    maxPositions: raw.max_position_embeddings == null ? 8192 : get.positiveInt("max_position_embeddings"),
    normEps: raw.rms_norm_eps == null ? 1e-6 : get.positiveNumber("rms_norm_eps"),
    tieWordEmbeddings: raw.tie_word_embeddings == null ? true : get.boolean("tie_word_embeddings"),
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: readEos(raw.eos_token_id),
    arch,
  };
}
