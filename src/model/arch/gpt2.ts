/**
 * GPT-2 (model_type gpt2; its many descendants: DistilGPT-2, DialoGPT, …): learned position embeddings (wpe),
 * LayerNorm with bias (eps `layer_norm_epsilon`), the tanh GELU ("gelu_new"), one fused q|k|v projection (c_attn),
 * multi-head attention scaled by 1/√head_dim, and the head tied to the token embedding (wte).
 * Its linears are Conv1D modules, stored [in, out] in the file (spec `transposed`); PEFT targets them with
 * fan_in_fan_out true (c_attn, c_proj, c_fc; "c_proj" matches both attn.c_proj and mlp.c_proj).
 * Hugging Face names: transformer.wte / wpe / h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj} /
 * ln_f; checkpoints saved from GPT2Model (the original openai-community/gpt2) lack the "transformer." prefix, which
 * fileTensorName adds. The block's forward and backward are in gpt2-block.ts.
 */
import { LoratuneError } from "../../errors.ts";
import { previewJson } from "../../io/preview.ts";
import type { Linear } from "../../nn/linear.ts";
import type { ModelConfig } from "../config.ts";
import type { F32Param } from "../model.ts";
import { fieldReader, readEos } from "./config-fields.ts";
import {
  gpt2EmbedBackward,
  gpt2EmbedForward,
  gpt2FinalBackward,
  gpt2FinalForward,
  gpt2InferenceStep,
  gpt2LayerBackward,
  gpt2LayerForward,
} from "./gpt2-block.ts";
import { gpt2Gguf } from "./gpt2-gguf.ts";
import type { ModelFamily, ParamSpec } from "./spec.ts";

export interface Gpt2Layer {
  ln1: LayerNormParams; // ln_1 [C]
  attn: Linear; // c_attn [3C, C] in memory (q | k | v rows), [C, 3C] in the file
  proj: Linear; // attn.c_proj [C, C]
  ln2: LayerNormParams; // ln_2 [C]
  fc: Linear; // mlp.c_fc [F, C]
  out: Linear; // mlp.c_proj [C, F]
}

export interface LayerNormParams {
  weight: F32Param; // [C]
  bias: F32Param; // [C]
}

/** Weights outside the blocks (besides wte, which is the embedding and the head). */
export interface Gpt2Top {
  wpe: F32Param; // [n_positions, C]
  lnf: LayerNormParams; // [C]
}

const PREFIX = "transformer.h.";

/** GELU spellings of config.json's activation_function that are the tanh approximation. */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

export const gpt2: ModelFamily<Gpt2Layer, Gpt2Top> = {
  name: "gpt2",
  modelTypes: ["gpt2"],
  blockPrefix: PREFIX,
  headName: "lm_head.weight",
  // PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["gpt2"].
  defaultTargets: ["c_attn"],
  gguf: gpt2Gguf,
  fileTensorName: gpt2FileTensorName,
  parseConfig: parseGpt2Config,
  params: gpt2Params,
  assemble(c, take) {
    const norm = (name: string): LayerNormParams => ({
      weight: take.f32(`${name}.weight`),
      bias: take.f32(`${name}.bias`),
    });
    const wpe = take.f32("transformer.wpe.weight");
    const layers: Gpt2Layer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const p = `${PREFIX}${i}`;
      layers.push({
        ln1: norm(`${p}.ln_1`),
        attn: take.linear(`${p}.attn.c_attn`),
        proj: take.linear(`${p}.attn.c_proj`),
        ln2: norm(`${p}.ln_2`),
        fc: take.linear(`${p}.mlp.c_fc`),
        out: take.linear(`${p}.mlp.c_proj`),
      });
    }
    return { layers, top: { wpe, lnf: norm("transformer.ln_f") } };
  },
  blockLinears: (l) => [l.attn, l.proj, l.fc, l.out],
  blockParams: (l) => [l.ln1.weight, l.ln1.bias, l.ln2.weight, l.ln2.bias],
  topParams: (top) => [top.wpe, top.lnf.weight, top.lnf.bias],
  activations(c, N) {
    const C = c.hiddenSize;
    const F = c.intermediateSize;
    return {
      saved: {
        ln1: N * C,
        mean1: N,
        rstd1: N,
        qkv: N * 3 * C, // c_attn's output, q | k | v per row
        q: N * C,
        k: N * C,
        v: N * C,
        att: N * C,
        lse: N * c.numHeads, // [B, heads, T]
        h: N * C, // residual after attention
        ln2: N * C,
        mean2: N,
        rstd2: N,
        fc: N * F, // before GELU
        act: N * F, // after GELU
      },
      rowSaved: {},
      top: { meanf: N, rstdf: N },
      scratch: { dln: N * C, dqkv: N * 3 * C, dq: N * C, dk: N * C, dv: N * C, datt: N * C, dfc: N * F },
      rowScratch: {},
    };
  },
  embedForward: gpt2EmbedForward,
  embedBackward: gpt2EmbedBackward,
  layerForward: gpt2LayerForward,
  layerBackward: gpt2LayerBackward,
  finalForward: gpt2FinalForward,
  finalBackward: gpt2FinalBackward,
  inferenceBuffers(c, n) {
    const C = c.hiddenSize;
    return {
      ln: n * C,
      mean: n,
      rstd: n,
      qkv: n * 3 * C,
      q: n * C,
      att: n * C,
      h: n * C,
      fc: n * c.intermediateSize,
    };
  },
  inferenceStep: gpt2InferenceStep,
};

/**
 * A checkpoint's tensor name → params()' name: "transformer." added where a GPT2Model file lacks it; the causal
 * mask buffers older files store (h.N.attn.bias, h.N.attn.masked_bias) are no weights.
 */
function gpt2FileTensorName(name: string): string | null {
  if (/(^|\.)attn\.(masked_)?bias$/.test(name)) return null;
  return name.startsWith("transformer.") || name === "lm_head.weight" ? name : `transformer.${name}`;
}

/** Every tensor, in the order random init draws them (GPT2LMHeadModel's state_dict order). */
function gpt2Params(c: ModelConfig): ParamSpec[] {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const out: ParamSpec[] = [
    { name: "transformer.wte.weight", shape: [c.vocabSize, C], role: "embedding", layer: null, tiedHead: true },
    { name: "transformer.wpe.weight", shape: [c.maxPositions, C], role: "position", layer: null },
  ];
  const linears: [name: string, out: number, inp: number, axes: ParamSpec["axes"]][] = [
    ["attn.c_attn", 3 * C, C, { in: "hidden", out: "qkv" }],
    ["attn.c_proj", C, C, { in: "attention", out: "hidden" }],
    ["mlp.c_fc", F, C, { in: "hidden", out: "intermediate" }],
    ["mlp.c_proj", C, F, { in: "intermediate", out: "hidden" }],
  ];
  const norm = (name: string, layer: number | null): ParamSpec[] => [
    { name: `${name}.weight`, shape: [C], role: "norm", layer },
    { name: `${name}.bias`, shape: [C], role: "norm", layer, init: "zeros" },
  ];
  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `${PREFIX}${layer}`;
    out.push(...norm(`${p}.ln_1`, layer));
    for (const [name, o, inp, axes] of linears) {
      if (name === "mlp.c_fc") out.push(...norm(`${p}.ln_2`, layer));
      const group = name.startsWith("attn.") ? "attention" : "mlp";
      out.push(
        { name: `${p}.${name}.weight`, shape: [o, inp], role: "linear", layer, transposed: true, axes, group },
        { name: `${p}.${name}.bias`, shape: [o], role: "bias", layer },
      );
    }
  }
  out.push(...norm("transformer.ln_f", null));
  return out;
}

type Json = Record<string, unknown>;

/** GPT2Config's config.json (n_embd, n_layer, n_head, n_inner, n_positions, layer_norm_epsilon, …). */
function parseGpt2Config(raw: Json, where: string): ModelConfig {
  const get = fieldReader(raw, where);
  const unsupported = (msg: string): never => {
    throw new LoratuneError("ERR_UNSUPPORTED", `${where}: ${msg}`);
  };
  const act = raw.activation_function ?? "gelu_new";
  if (typeof act !== "string" || !TANH_GELU.includes(act)) {
    unsupported(`activation_function ${previewJson(act)} is not supported (${TANH_GELU.join(", ")})`);
  }
  if (raw.scale_attn_weights === false) unsupported("scale_attn_weights false is not supported");
  if (raw.scale_attn_by_inverse_layer_idx === true) unsupported("scale_attn_by_inverse_layer_idx is not supported");
  if (raw.add_cross_attention === true) unsupported("add_cross_attention is not supported");
  if (raw.tie_word_embeddings === false) unsupported("tie_word_embeddings false is not supported (GPT-2 ties wte)");
  const hiddenSize = get.positiveInt("n_embd", 1 << 17);
  const numHeads = get.positiveInt("n_head", 1 << 12);
  const headDim = hiddenSize / numHeads;
  if (!Number.isInteger(headDim)) {
    throw new LoratuneError(
      "ERR_CONFIG",
      `${where}: n_embd (${hiddenSize}) must be a multiple of n_head (${numHeads})`,
    );
  }
  return {
    modelType: get.string("model_type"),
    hiddenSize,
    numLayers: get.positiveInt("n_layer", 4096),
    numHeads,
    numKvHeads: numHeads,
    headDim,
    intermediateSize: raw.n_inner == null ? 4 * hiddenSize : get.positiveInt("n_inner", 1 << 20),
    vocabSize: get.positiveInt("vocab_size"),
    maxPositions: raw.n_positions == null ? 1024 : get.positiveInt("n_positions", 1 << 24),
    normEps: raw.layer_norm_epsilon == null ? 1e-5 : get.positiveNumber("layer_norm_epsilon"),
    tieWordEmbeddings: true,
    bosTokenId: typeof raw.bos_token_id === "number" ? raw.bos_token_id : null,
    eosTokenIds: readEos(raw.eos_token_id),
    arch: null,
  };
}
