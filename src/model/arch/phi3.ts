/**
 * Phi-3 and Phi-4-mini (model_type phi3): the Llama block with fused projections, as Hugging Face's Phi3 stores
 * them: `self_attn.qkv_proj` (rows q | k | v: heads·hd, kvHeads·hd, kvHeads·hd) and `mlp.gate_up_proj` (rows
 * gate | up, F each). LoRA targets them by those names, as PEFT does (an adapter's B has the fused row count).
 * RoPE rotates the first partial_rotary_factor·head_dim dims of each head (Phi-4-mini: 0.75); rope_scaling
 * "longrope" uses short_factor, or long_factor for a batch whose largest position + 1 is past
 * original_max_position_embeddings (as transformers decides per forward), and scales cos/sin by
 * sqrt(1 + ln(s)/ln(original)), s = max/original. sliding_window (Phi-3-mini: 2047) limits what a query sees to
 * the last `window` keys, in training and in the KV-cache decode.
 * The block's forward and backward are in phi3-block.ts.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { Linear } from "../../nn/linear.ts";
import { buildRopeTables, type LongRopeScaling, type RopeTables } from "../../nn/rope-tables.ts";
import type { ModelConfig } from "../config.ts";
import type { F32Param } from "../model.ts";
import { CONFIG_LIMITS, fieldReader, isObject, readEos } from "./config-fields.ts";
import { llamaInferenceBuffers } from "./llama-style.ts";
import {
  phi3EmbedBackward,
  phi3EmbedForward,
  phi3FinalBackward,
  phi3FinalForward,
  phi3InferenceStep,
  phi3LayerBackward,
  phi3LayerForward,
} from "./phi3-block.ts";
import { phi3Gguf } from "./phi3-gguf.ts";
import type { ModelFamily, ParamSpec } from "./spec.ts";

/** ModelConfig.arch of phi3. */
export interface Phi3Arch {
  ropeTheta: number;
  /** Dims of each head that RoPE rotates (even; head_dim · partial_rotary_factor). */
  rotaryDim: number;
  /** sliding_window: a query sees the keys t − window < s ≤ t; 0 for the whole causal prefix. */
  slidingWindow: number;
  /** rope_scaling "longrope", or null for plain RoPE. */
  longrope: {
    shortFactor: number[]; // [rotaryDim/2]
    longFactor: number[]; // [rotaryDim/2]
    originalMaxPositions: number;
    attentionFactor: number;
  } | null;
}

export function phi3Arch(c: ModelConfig): Phi3Arch {
  return c.arch as Phi3Arch;
}

export interface Phi3Layer {
  inputNorm: F32Param; // [C]
  qkv: Linear; // [Hq + 2·Hkv, C]
  o: Linear; // [C, Hq]
  postNorm: F32Param; // [C]
  gateUp: Linear; // [2F, C]
  down: Linear; // [C, F]
}

export interface Phi3Top {
  norm: F32Param; // [C]
  /** [positions, rotaryDim/2]: plain RoPE, or longrope with short_factor. */
  rope: RopeTables;
  /** longrope with long_factor, for batches reaching past original_max_position_embeddings (null if none can). */
  longRope: RopeTables | null;
}

const PREFIX = "model.layers.";

/** The longrope scaling with short_factor or long_factor; null for plain RoPE. */
function longropeScaling(a: Phi3Arch, long: boolean): LongRopeScaling | null {
  if (a.longrope === null) return null;
  return {
    type: "longrope",
    extFactors: long ? a.longrope.longFactor : a.longrope.shortFactor,
    attentionFactor: a.longrope.attentionFactor,
  };
}

/** The RoPE tables of rows at positions pos[0..n): long_factor's when max(pos) + 1 > original length. */
export function phi3RopeFor(c: ModelConfig, top: Phi3Top, pos: Int32Array, n: number): RopeTables {
  const orig = phi3Arch(c).longrope?.originalMaxPositions;
  if (top.longRope === null || orig === undefined) return top.rope;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, pos[i]!);
  return max + 1 > orig ? top.longRope : top.rope;
}

export const phi3: ModelFamily<Phi3Layer, Phi3Top> = {
  name: "phi3",
  modelTypes: ["phi3"],
  blockPrefix: PREFIX,
  headName: "lm_head.weight",
  defaultTargets: ["qkv_proj"],
  gguf: phi3Gguf,
  parseConfig: parsePhi3Config,
  params: phi3Params,
  assemble(c, take, positions) {
    const a = phi3Arch(c);
    const layers: Phi3Layer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const p = `${PREFIX}${i}`;
      layers.push({
        inputNorm: take.f32(`${p}.input_layernorm.weight`),
        qkv: take.linear(`${p}.self_attn.qkv_proj`),
        o: take.linear(`${p}.self_attn.o_proj`),
        postNorm: take.f32(`${p}.post_attention_layernorm.weight`),
        gateUp: take.linear(`${p}.mlp.gate_up_proj`),
        down: take.linear(`${p}.mlp.down_proj`),
      });
    }
    const norm = take.f32("model.norm.weight");
    const rope = buildRopeTables(a.rotaryDim, a.ropeTheta, longropeScaling(a, false), positions);
    const longRope =
      a.longrope !== null && positions > a.longrope.originalMaxPositions
        ? buildRopeTables(a.rotaryDim, a.ropeTheta, longropeScaling(a, true), positions)
        : null;
    return { layers, top: { norm, rope, longRope } };
  },
  blockLinears: (l) => [l.qkv, l.o, l.gateUp, l.down],
  blockParams: (l) => [l.inputNorm, l.postNorm],
  topParams: (top) => [top.norm],
  activations(c, N) {
    const C = c.hiddenSize;
    const hq = c.numHeads * c.headDim;
    const hkv = c.numKvHeads * c.headDim;
    const F = c.intermediateSize;
    return {
      saved: {
        ln1: N * C,
        rstd1: N,
        qkv: N * (hq + 2 * hkv), // qkv_proj's output, q | k | v per row
        q: N * hq, // after RoPE
        k: N * hkv, // after RoPE
        v: N * hkv,
        att: N * hq,
        lse: N * c.numHeads, // [B, heads, T]
        h: N * C, // residual after attention
        ln2: N * C,
        rstd2: N,
        gu: N * 2 * F, // gate_up_proj's output, gate | up per row
        gate: N * F,
        up: N * F,
        act: N * F, // silu(gate) · up
      },
      rowSaved: {},
      top: { rstdf: N },
      scratch: {
        dln: N * C,
        dqkv: N * (hq + 2 * hkv),
        dq: N * hq,
        dk: N * hkv,
        dv: N * hkv,
        datt: N * hq,
        dact: N * F,
        dgate: N * F,
        dup: N * F,
        dgu: N * 2 * F,
      },
      rowScratch: {},
    };
  },
  embedForward: phi3EmbedForward,
  embedBackward: phi3EmbedBackward,
  layerForward: phi3LayerForward,
  layerBackward: phi3LayerBackward,
  finalForward: phi3FinalForward,
  finalBackward: phi3FinalBackward,
  inferenceBuffers(c, n) {
    // A Llama block's buffers (rstd only per row: no q/k norms) plus the fused qkv and gate|up products.
    const fused = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
    return { ...llamaInferenceBuffers(c, n), rstd: n, qkv: n * fused, gu: n * 2 * c.intermediateSize };
  },
  inferenceStep: phi3InferenceStep,
};

/** Every tensor, in the order random init draws them (Phi3ForCausalLM's state_dict order). */
function phi3Params(c: ModelConfig): ParamSpec[] {
  const C = c.hiddenSize;
  const hq = c.numHeads * c.headDim;
  const hkv = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
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
    ["self_attn.o_proj", C, hq, { in: "attention", out: "hidden" }],
    ["self_attn.qkv_proj", hq + 2 * hkv, C, { in: "hidden", out: "qkv" }],
    ["mlp.gate_up_proj", 2 * F, C, { in: "hidden", out: "gate_up" }],
    ["mlp.down_proj", C, F, { in: "intermediate", out: "hidden" }],
  ];
  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `${PREFIX}${layer}`;
    for (const [name, o, inp, axes] of linears) {
      const group = name.startsWith("self_attn.") ? "attention" : "mlp";
      out.push({ name: `${p}.${name}.weight`, shape: [o, inp], role: "linear", layer, axes, group });
    }
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [C], role: "norm", layer },
      { name: `${p}.post_attention_layernorm.weight`, shape: [C], role: "norm", layer },
    );
  }
  out.push({ name: "model.norm.weight", shape: [C], role: "norm", layer: null });
  if (!c.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [c.vocabSize, C], role: "head", layer: null });
  return out;
}

type Json = Record<string, unknown>;

/** Phi3Config's config.json. */
function parsePhi3Config(raw: Json, where: string): ModelConfig {
  const get = fieldReader(raw, where);
  const unsupported = (msg: string): never => {
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: ${msg}`);
  };
  const act = raw.hidden_act ?? "silu";
  if (act !== "silu") unsupported(`hidden_act ${previewJson(act)} is not supported (silu)`);
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
  const partial = raw.partial_rotary_factor == null ? 1 : get.positiveNumber("partial_rotary_factor");
  const rotaryDim = Math.floor(headDim * partial);
  if (!Number.isInteger(headDim) || rotaryDim % 2 !== 0 || rotaryDim === 0 || partial > 1) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: head dimension ${headDim} × partial_rotary_factor ${partial} must be an even integer ≥ 2 and ≤ head_dim`,
    );
  }
  const maxPositions = raw.max_position_embeddings == null ? 4096 : get.positiveInt("max_position_embeddings");
  const ropeTheta = raw.rope_theta == null ? 10000 : get.positiveNumber("rope_theta");
  return {
    modelType: get.string("model_type"),
    hiddenSize,
    numLayers: get.positiveInt("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: get.positiveInt("intermediate_size"),
    vocabSize: get.positiveInt("vocab_size"),
    maxPositions,
    normEps: raw.rms_norm_eps == null ? 1e-5 : get.positiveNumber("rms_norm_eps"),
    tieWordEmbeddings: raw.tie_word_embeddings == null ? false : get.boolean("tie_word_embeddings"),
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: readEos(raw.eos_token_id),
    arch: {
      ropeTheta,
      rotaryDim,
      slidingWindow:
        raw.sliding_window == null ? 0 : get.positiveInt("sliding_window", CONFIG_LIMITS.max_position_embeddings),
      longrope: readLongrope(raw, where, rotaryDim, maxPositions),
    } satisfies Phi3Arch,
  };
}

/**
 * rope_scaling of a Phi-3 config: null / type "default" (plain RoPE) or "longrope" (older files: "su") with
 * short_factor and long_factor of rotaryDim/2 numbers each. The attention factor is rope_scaling.attention_factor,
 * else sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings / original_max_position_embeddings (1 when
 * s ≤ 1), as transformers' _compute_longrope_parameters.
 */
function readLongrope(raw: Json, where: string, rotaryDim: number, maxPositions: number): Phi3Arch["longrope"] {
  const s = raw.rope_scaling;
  if (s == null) return null;
  if (!isObject(s)) {
    throw new LoratuneError("ERR_CONFIG", `${where}: rope_scaling must be an object (got ${previewJson(s)})`);
  }
  const type = s.rope_type ?? s.type ?? "default";
  if (type === "default") return null;
  if (type !== "longrope" && type !== "su") {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${where}: rope scaling type ${previewJson(type)} is not supported for phi3 (supported: longrope)`,
    );
  }
  const factors = (key: string): number[] => {
    const v = s[key];
    if (!Array.isArray(v) || v.length !== rotaryDim / 2 || !v.every((x) => typeof x === "number" && x > 0)) {
      throw new LoratuneError(
        "ERR_CONFIG",
        `${where}: rope_scaling.${key} must be ${rotaryDim / 2} positive numbers (rotary dims / 2; got ${previewJson(v)})`,
      );
    }
    return v as number[];
  };
  const orig = raw.original_max_position_embeddings ?? s.original_max_position_embeddings ?? maxPositions;
  if (typeof orig !== "number" || !Number.isInteger(orig) || orig < 2) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: original_max_position_embeddings must be an integer ≥ 2 (got ${previewJson(orig)})`,
    );
  }
  const scale = maxPositions / orig;
  const given = s.attention_factor;
  if (given != null && (typeof given !== "number" || !(given > 0))) {
    throw new LoratuneError("ERR_CONFIG", `${where}: rope_scaling.attention_factor must be a positive number`);
  }
  const attentionFactor =
    typeof given === "number" ? given : scale <= 1 ? 1 : Math.sqrt(1 + Math.log(scale) / Math.log(orig));
  return {
    shortFactor: factors("short_factor"),
    longFactor: factors("long_factor"),
    originalMaxPositions: orig,
    attentionFactor,
  };
}
