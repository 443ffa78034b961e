/**
 * llama.cpp's view of the Gemma families (its "gemma", "gemma2" and "gemma3" architectures, as
 * convert_hf_to_gguf.py writes them):
 *  - tensors: token_embd (also the head: tied), output_norm, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
 *    ffn_gate, ffn_up, ffn_down}; Gemma: post_attention_layernorm is ffn_norm; Gemma 2/3: post_attention_layernorm
 *    is post_attention_norm, pre_feedforward_layernorm ffn_norm, post_feedforward_layernorm post_ffw_norm; Gemma 3:
 *    q_norm/k_norm are attn_q_norm/attn_k_norm. Every norm weight is stored as 1 + w (llama.cpp's RMSNorm scales by
 *    the stored weight). RoPE is rotate-half in llama.cpp too (NEOX): no rows are reordered.
 *  - hyperparameters under the architecture's prefix: context_length, embedding_length, block_count,
 *    feed_forward_length, attention.head_count / head_count_kv / key_length / value_length,
 *    attention.layer_norm_rms_epsilon, rope.freq_base (Gemma 3: the global layers'), rope.scaling (Gemma 3 linear);
 *    Gemma 2: attn_logit_softcapping, final_logit_softcapping; Gemma 2/3: attention.sliding_window.
 * What llama.cpp fixes in its code rather than reading from the file is checked, and a model that differs is refused
 * naming the setting: the score scale (1/√head_dim; 1/√(hidden/heads) for its 27B layer counts, 46 for Gemma 2 and
 * 62 for Gemma 3), which layers slide (Gemma 2 every second from layer 0, Gemma 3 five of every six), Gemma 3's
 * local RoPE base (10000, unscaled), Gemma 2's attention soft-cap (always applied: it must be set) and Gemma 3's
 * lack of soft-caps. A Gemma 2 without final_logit_softcapping is exported with a note: llama.cpp caps at 30.
 * A GGUF base of these architectures reads back as the config.json those fixed settings amount to (gemmaConfigJson),
 * its norms less 1 (load-gguf.ts).
 */
import { LoratuneError } from "../../errors.ts";
import { f32, type GgufValue, str, stringOf, u32 } from "../../gguf/metadata.ts";
import type { ModelConfig } from "../config.ts";
import type { Gemma2Arch } from "./gemma2.ts";
import { metaReader } from "./llama-gguf-config.ts";
import type { LlamaArch } from "./llama-style.ts";
import type { GgufModelView, GgufNaming } from "./spec.ts";

type GemmaArch = "gemma" | "gemma2" | "gemma3";

const TOP: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

const SHARED: Record<string, string> = {
  input_layernorm: "attn_norm",
  "self_attn.q_proj": "attn_q",
  "self_attn.k_proj": "attn_k",
  "self_attn.v_proj": "attn_v",
  "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate",
  "mlp.up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

const BLOCK: Record<GemmaArch, Record<string, string>> = {
  gemma: { ...SHARED, post_attention_layernorm: "ffn_norm" },
  gemma2: {
    ...SHARED,
    post_attention_layernorm: "post_attention_norm",
    pre_feedforward_layernorm: "ffn_norm",
    post_feedforward_layernorm: "post_ffw_norm",
  },
  gemma3: {
    ...SHARED,
    post_attention_layernorm: "post_attention_norm",
    pre_feedforward_layernorm: "ffn_norm",
    post_feedforward_layernorm: "post_ffw_norm",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
  },
};

/** Layer counts llama.cpp takes for a 27B model, which scales scores by 1/√(hidden/heads). */
const LAYERS_27B: Partial<Record<GemmaArch, number>> = { gemma2: 46, gemma3: 62 };
/** llama.cpp's sliding-window pattern: layer i slides when i % n < n − 1. */
const SWA_PATTERN: Partial<Record<GemmaArch, number>> = { gemma2: 2, gemma3: 6 };
/** Gemma 3's local RoPE base in llama.cpp (rope_freq_base_train_swa). */
const GEMMA3_LOCAL_THETA = 10000;
/** llama.cpp's defaults for keys a gemma2 file may lack. */
const GEMMA2_SOFTCAP = 50;
const GEMMA2_FINAL_SOFTCAP = 30;
const GEMMA2_WINDOW = 4096;
const MODEL_TYPE: Record<GemmaArch, string> = { gemma: "gemma", gemma2: "gemma2", gemma3: "gemma3_text" };

const BLOCK_NAME = /^model\.layers\.(\d+)\.(.+)\.weight$/;
const GGUF_BLOCK_NAME = /^blk\.(0|[1-9]\d*)\.([a-z_]+)\.weight$/;

/** The GGUF naming of a Gemma family under llama.cpp's architecture `arch`. */
export function gemmaGguf(arch: GemmaArch): GgufNaming {
  const block = BLOCK[arch];
  const topHf = new Map(Object.entries(TOP).map(([hf, gg]) => [gg, hf]));
  const blockHf = new Map(Object.entries(block).map(([hf, gg]) => [gg, hf]));
  return {
    arch,
    tensorName(hf) {
      if (TOP[hf] !== undefined) return TOP[hf];
      const m = BLOCK_NAME.exec(hf);
      const part = m ? block[m[2]!] : undefined;
      return m && part ? `blk.${m[1]}.${part}.weight` : null;
    },
    hfTensorName(gguf) {
      const top = topHf.get(gguf);
      if (top !== undefined) return top;
      const m = GGUF_BLOCK_NAME.exec(gguf);
      const part = m ? blockHf.get(m[2]!) : undefined;
      return m && part ? `model.layers.${m[1]}.${part}.weight` : null;
    },
    valueShift: (hf) => (hf.endsWith("norm.weight") ? 1 : 0),
    permuteHeads: () => null,
    metadata: (c) => gemmaMetadata(arch, c),
    notes: (c) => gemmaNotes(arch, c),
    extraTensors: () => [],
    configJson: (view) => gemmaConfigJson(view, arch),
    configTensors: [],
  };
}

function gemmaMetadata(arch: GemmaArch, c: ModelConfig): [string, GgufValue][] {
  const kv: [string, GgufValue][] = [
    [`${arch}.context_length`, u32(c.maxPositions)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.block_count`, u32(c.numLayers)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${arch}.attention.key_length`, u32(c.headDim)],
    [`${arch}.attention.value_length`, u32(c.headDim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.normEps)],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
  ];
  if (arch === "gemma") {
    const a = c.arch as LlamaArch;
    kv.push([`${arch}.rope.freq_base`, f32(a.ropeTheta)]);
    return kv;
  }
  const a = c.arch as Gemma2Arch;
  checkFixedSettings(arch, c, a);
  kv.push([`${arch}.rope.freq_base`, f32(a.ropeTheta)], [`${arch}.attention.sliding_window`, u32(a.slidingWindow)]);
  if (arch === "gemma2") {
    kv.push([`${arch}.attn_logit_softcapping`, f32(a.attnSoftcap)]);
    if (a.finalSoftcap > 0) kv.push([`${arch}.final_logit_softcapping`, f32(a.finalSoftcap)]);
  }
  if (a.ropeScaling !== null) {
    if (a.ropeScaling.type !== "linear")
      refuse(arch, `rope_scaling type ${a.ropeScaling.type} (only linear is exported)`);
    kv.push([`${arch}.rope.scaling.type`, str("linear")], [`${arch}.rope.scaling.factor`, f32(a.ropeScaling.factor)]);
  }
  return kv;
}

/** Gemma 2 without final_logit_softcapping: llama.cpp's gemma2 caps the logits at 30 all the same. */
function gemmaNotes(arch: GemmaArch, c: ModelConfig): string[] {
  if (arch !== "gemma2" || (c.arch as Gemma2Arch).finalSoftcap > 0) return [];
  return [
    `llama.cpp's gemma2 soft-caps the final logits at ${GEMMA2_FINAL_SOFTCAP} where final_logit_softcapping is unset: the same greedy tokens, other probabilities`,
  ];
}

/** Refuses a Gemma 2/3 model whose settings differ from what llama.cpp's graph fixes for `arch` (file comment). */
function checkFixedSettings(arch: GemmaArch, c: ModelConfig, a: Gemma2Arch): void {
  const scalar = c.numLayers === LAYERS_27B[arch] ? c.hiddenSize / c.numHeads : c.headDim;
  if (Math.fround(a.attnScale) !== Math.fround(scalar ** -0.5)) {
    refuse(arch, `query_pre_attn_scalar ${Math.round(a.attnScale ** -2)} (llama.cpp scales scores by ${scalar}^-0.5)`);
  }
  const n = SWA_PATTERN[arch]!;
  const wrong = a.slidingLayers.findIndex((s, i) => s !== i % n < n - 1);
  if (wrong >= 0) {
    refuse(
      arch,
      `layer ${wrong} ${a.slidingLayers[wrong] ? "slides" : "is global"} (llama.cpp slides layer i when i % ${n} < ${n - 1})`,
    );
  }
  if (arch === "gemma2" && a.attnSoftcap === 0) {
    refuse(arch, "no attn_logit_softcapping (llama.cpp's gemma2 always soft-caps scores, by 50 when unset)");
  }
  if (arch === "gemma3" && (a.attnSoftcap > 0 || a.finalSoftcap > 0)) {
    refuse(arch, "attn_logit_softcapping / final_logit_softcapping set (llama.cpp's gemma3 applies neither)");
  }
  if (arch === "gemma3" && (a.localRopeTheta ?? a.ropeTheta) !== GEMMA3_LOCAL_THETA) {
    refuse(
      arch,
      `rope_local_base_freq ${a.localRopeTheta ?? a.ropeTheta} (llama.cpp's gemma3 uses ${GEMMA3_LOCAL_THETA})`,
    );
  }
}

function refuse(arch: string, what: string): never {
  throw new LoratuneError(
    "ERR_UNSUPPORTED",
    `this model has ${what}; llama.cpp's ${arch} architecture fixes it otherwise, so the model cannot be exported for it`,
  );
}

/**
 * config.json of a llama.cpp gemma / gemma2 / gemma3 file: the inverse of gemmaMetadata, with what llama.cpp fixes
 * in its code written out as the settings it amounts to (query_pre_attn_scalar, Gemma 3's sliding_window_pattern 6
 * and local RoPE base, Gemma 2's default soft-caps and window). vocab_size from token_embd's rows, tied unless the
 * file has output.weight.
 */
function gemmaConfigJson(view: GgufModelView, arch: GemmaArch): Record<string, unknown> {
  const read = metaReader(view.path, view.metadata);
  const hidden = read.int(`${arch}.embedding_length`);
  const heads = read.int(`${arch}.attention.head_count`);
  const headDim = read.int(`${arch}.attention.key_length`, hidden / heads);
  const valueLength = read.int(`${arch}.attention.value_length`, headDim);
  if (valueLength !== headDim) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${arch}.attention.value_length (${valueLength}) must equal the key length ${headDim}`,
    );
  }
  const embed = view.shape("token_embd.weight");
  if (embed?.length !== 2) {
    throw new LoratuneError("ERR_GGUF", `${view.path}: no 2-D token_embd.weight tensor (the token embedding)`);
  }
  const layers = read.int(`${arch}.block_count`);
  const bos = read.optInt("tokenizer.ggml.bos_token_id");
  const eos = read.optInt("tokenizer.ggml.eos_token_id");
  const json: Record<string, unknown> = {
    model_type: MODEL_TYPE[arch],
    hidden_activation: "gelu_pytorch_tanh",
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: read.int(`${arch}.attention.head_count_kv`, heads),
    head_dim: headDim,
    intermediate_size: read.int(`${arch}.feed_forward_length`),
    vocab_size: embed[0],
    max_position_embeddings: read.int(`${arch}.context_length`),
    rms_norm_eps: read.float(`${arch}.attention.layer_norm_rms_epsilon`),
    rope_theta: read.float(`${arch}.rope.freq_base`, arch === "gemma3" ? 1_000_000 : 10000),
    tie_word_embeddings: view.shape("output.weight") === undefined,
    ...(bos !== undefined ? { bos_token_id: bos } : {}),
    ...(eos !== undefined ? { eos_token_id: eos } : {}),
    torch_dtype: "float32",
  };
  if (arch === "gemma") return json;
  json.query_pre_attn_scalar = layers === LAYERS_27B[arch] ? hidden / heads : headDim;
  if (arch === "gemma2") {
    json.sliding_window = read.int(`${arch}.attention.sliding_window`, GEMMA2_WINDOW);
    json.attn_logit_softcapping = read.float(`${arch}.attn_logit_softcapping`, GEMMA2_SOFTCAP);
    json.final_logit_softcapping = read.float(`${arch}.final_logit_softcapping`, GEMMA2_FINAL_SOFTCAP);
    return json;
  }
  json.sliding_window = read.int(`${arch}.attention.sliding_window`);
  json.sliding_window_pattern = SWA_PATTERN.gemma3;
  json.rope_local_base_freq = GEMMA3_LOCAL_THETA;
  json.attn_logit_softcapping = null;
  json.final_logit_softcapping = null;
  const type = stringOf(view.metadata, `${arch}.rope.scaling.type`) ?? "none";
  if (type !== "linear" && type !== "none") {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `${view.path}: ${arch}.rope.scaling.type ${JSON.stringify(type)} is not supported (supported: none, linear)`,
    );
  }
  if (type === "linear") json.rope_scaling = { rope_type: "linear", factor: read.float(`${arch}.rope.scaling.factor`) };
  return json;
}
