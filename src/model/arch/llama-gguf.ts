/**
 * llama.cpp's view of the Llama-style families: GGUF tensor names (token_embd, blk.N.attn_q, …, output_norm,
 * output), hyperparameter keys under the architecture's prefix, Llama-3 RoPE scaling as the `rope_freqs` factors
 * tensor, and the q/k row order.
 *
 * Row order: Hugging Face's Llama rotates the two halves of each head (rotate-half), llama.cpp's "llama" graph
 * rotates adjacent pairs, so the rows of q_proj and k_proj (and of their biases and LoRA B) are reordered per head:
 * row h·hd + 2i + j of the GGUF tensor is row h·hd + j·hd/2 + i of the Hugging Face one (i < hd/2, j ∈ {0, 1}).
 * qwen2 and qwen3 run rotate-half in llama.cpp too (NEOX RoPE) and keep the rows.
 */
import { LoratuneError } from "../../errors.ts";
import { f32, type GgufValue, str, u32 } from "../../gguf/metadata.ts";
import { ropeFreqFactors } from "../../nn/rope-tables.ts";
import type { ModelConfig } from "../config.ts";
import { llamaConfigJson, ROPE_FREQS } from "./llama-gguf-config.ts";
import type { LlamaArch } from "./llama-style.ts";
import type { GgufExtraTensor, GgufNaming } from "./spec.ts";

const TOP: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

const BLOCK: Record<string, string> = {
  input_layernorm: "attn_norm",
  post_attention_layernorm: "ffn_norm",
  "self_attn.q_proj": "attn_q",
  "self_attn.k_proj": "attn_k",
  "self_attn.v_proj": "attn_v",
  "self_attn.o_proj": "attn_output",
  "self_attn.q_norm": "attn_q_norm",
  "self_attn.k_norm": "attn_k_norm",
  "mlp.gate_proj": "ffn_gate",
  "mlp.up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

const BLOCK_NAME = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/;

function tensorName(hf: string): string | null {
  if (TOP[hf] !== undefined) return TOP[hf];
  const m = BLOCK_NAME.exec(hf);
  const part = m ? BLOCK[m[2]!] : undefined;
  return m && part ? `blk.${m[1]}.${part}.${m[3]}` : null;
}

const TOP_HF = new Map(Object.entries(TOP).map(([hf, gg]) => [gg, hf]));
const BLOCK_HF = new Map(Object.entries(BLOCK).map(([hf, gg]) => [gg, hf]));
const GGUF_BLOCK_NAME = /^blk\.(0|[1-9]\d*)\.([a-z_]+)\.(weight|bias)$/;

/** The inverse of tensorName ("blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight"). */
function hfTensorName(gguf: string): string | null {
  const top = TOP_HF.get(gguf);
  if (top !== undefined) return top;
  const m = GGUF_BLOCK_NAME.exec(gguf);
  const part = m ? BLOCK_HF.get(m[2]!) : undefined;
  return m && part ? `model.layers.${m[1]}.${part}.${m[3]}` : null;
}

/** The GGUF naming of a Llama-style family under llama.cpp's architecture `arch`, read back as `modelType`. */
export function llamaGguf(arch: "llama" | "qwen2" | "qwen3", modelType: string = arch): GgufNaming {
  const permute = arch === "llama";
  return {
    arch,
    tensorName,
    hfTensorName,
    configJson: (view) => llamaConfigJson(view, arch, modelType),
    configTensors: arch === "llama" ? [ROPE_FREQS] : [],
    permuteHeads(hf, c) {
      if (!permute) return null;
      if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hf)) return c.numHeads;
      if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hf)) return c.numKvHeads;
      return null;
    },
    metadata: (c) => llamaMetadata(arch, c),
    extraTensors: (c) => ropeFreqs(arch, c),
  };
}

function llamaMetadata(arch: string, c: ModelConfig): [string, GgufValue][] {
  const a = c.arch as LlamaArch;
  const kv: [string, GgufValue][] = [
    [`${arch}.context_length`, u32(c.maxPositions)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.block_count`, u32(c.numLayers)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${arch}.attention.key_length`, u32(c.headDim)],
    [`${arch}.attention.value_length`, u32(c.headDim)],
    [`${arch}.rope.dimension_count`, u32(c.headDim)],
    [`${arch}.rope.freq_base`, f32(a.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.normEps)],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
  ];
  if (a.ropeScaling?.type === "linear") {
    kv.push([`${arch}.rope.scaling.type`, str("linear")], [`${arch}.rope.scaling.factor`, f32(a.ropeScaling.factor)]);
  }
  return kv;
}

/**
 * Llama-3 RoPE scaling as llama.cpp takes it: `rope_freqs.weight` [hd/2], the factor each frequency is divided by
 * (the plain inverse frequency over the scaled one).
 */
function ropeFreqs(arch: string, c: ModelConfig): GgufExtraTensor[] {
  const a = c.arch as LlamaArch;
  if (a.ropeScaling?.type !== "llama3") return [];
  if (arch !== "llama") {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `llama.cpp's ${arch} architecture does not apply Llama-3 RoPE scaling (rope_freqs); this model cannot be exported for it`,
    );
  }
  return [{ name: ROPE_FREQS, shape: [c.headDim / 2], values: ropeFreqFactors(c.headDim, a.ropeTheta, a.ropeScaling) }];
}

/**
 * Reorders the rows of `src` ([heads·hd, cols] row-major) from rotate-half to adjacent-pair order
 * (`inverse`: back). Returns a new array.
 */
export function permuteHeadRows(src: Float32Array, heads: number, cols: number, inverse = false): Float32Array {
  const out = new Float32Array(src.length);
  permuteRowsInto(out, src, heads, cols, inverse);
  return out;
}

/**
 * The same reordering of rows of `rowLength` elements of any typed array into `out` (same type and length): a
 * block format's rows are whole runs of blocks, so its bytes move row by row unchanged.
 */
export function permuteRowsInto<T extends Float32Array | Uint16Array | Uint8Array>(
  out: T,
  src: T,
  heads: number,
  cols: number,
  inverse = false,
): void {
  const rows = src.length / cols;
  const hd = rows / heads;
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hf = h * hd + j * half + i;
        const gg = h * hd + 2 * i + j;
        const [from, to] = inverse ? [gg, hf] : [hf, gg];
        out.set(src.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
}
