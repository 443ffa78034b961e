/**
 * What a model family declares, as a record (one file per family under model/arch/, listed in registry.ts):
 * - its config parsing (config.json → ModelConfig);
 * - its parameter specs: every tensor's Hugging Face name, in-memory shape, role, block index, and whether the
 *   file stores it transposed;
 * - its activations: the buffers a block's forward saves for backward, sized for N = batch × seq rows;
 * - its block forward and backward (and inference step), built from the shared nn/ pieces and kernels.
 * Loading, random init, state dicts, full fine-tuning, parameter counts, LoRA target matching and the pre-training
 * checks all derive from these, so the trainer, data, CLI and LoRA code never name a family.
 */
import type { GgufMetadata, GgufValue } from "../../gguf/metadata.ts";
import type { Kernels } from "../../kernels/types.ts";
import type { AdapterCache, DropoutSource, Linear } from "../../nn/linear.ts";
import type { StoredTensor } from "../../tensor/stored-tensor.ts";
import type { Activations, LayerActivations } from "../activations.ts";
import type { ModelConfig } from "../config.ts";
import type { ModelInput } from "../forward.ts";
import type { F32Param, Model } from "../model.ts";

/**
 * What a tensor is, which decides how it is loaded, initialised and trained:
 * - embedding: the token embedding table [vocab, hidden] (kept in the storage dtype; tied heads reuse it);
 * - position: a learned position embedding [positions, hidden] (GPT-2's wpe; loaded as f32);
 * - linear: the weight of a linear layer, [out, in] in memory (PyTorch nn.Linear order); LoRA can target it;
 * - bias: the bias [out] of the linear whose weight is `<module>.weight` (f32);
 * - norm: a weight or bias of a normalisation layer (f32);
 * - head: the output head [vocab, hidden], listed only when it is not tied to the embedding.
 */
export type ParamRole = "embedding" | "position" | "linear" | "bias" | "norm" | "head";

/**
 * Which size of the config an axis of a linear is, for messages that name what differs between an adapter and a
 * model ("hidden", "intermediate", "attention" = heads × head_dim, "kv" = kv heads × head_dim; a family may use
 * others, which are then reported by shape).
 */
export type ConfigAxis = string;

export interface ParamSpec {
  /** The tensor's Hugging Face name, verbatim ("model.layers.0.self_attn.q_proj.weight"). */
  name: string;
  /** Shape in memory, outermost first. Linears are [out, in] whatever the file's layout (see `transposed`). */
  shape: number[];
  role: ParamRole;
  /** Index of the block the tensor belongs to, or null outside the blocks (embeddings, final norm, head). */
  layer: number | null;
  /**
   * The file stores this 2-D weight transposed ([in, out], as GPT-2's Conv1D): loading transposes it into
   * `shape`, saving transposes it back.
   */
  transposed?: boolean;
  /**
   * Random initialisation (model/init.ts): "normal" N(0, std), "ones" (norm weights), "zeros" (biases).
   * Default: norm → ones, bias → zeros, everything else normal.
   */
  init?: "normal" | "ones" | "zeros";
  /** Linears: which config size each axis is (for adapter-mismatch messages). */
  axes?: { in: ConfigAxis; out: ConfigAxis };
  /** The embedding: the output head is this same table (tie_word_embeddings), so it is quantized as a head. */
  tiedHead?: boolean;
  /** Linears: the sub-layer they belong to (the bench's "q,k,v,o" target set is the attention linears). */
  group?: "attention" | "mlp";
}

/** Sizes (f32 elements) of named buffers for N rows. */
export type BufferSizes = Record<string, number>;

/** Named f32 buffers, as allocated from BufferSizes. */
export type Buffers = Record<string, Float32Array>;

/**
 * The activation buffers a family needs for N = B·T rows, beyond the ones every family gets (each block's input
 * `resid`, the residual after the last block `final`, the final norm's output `lnf`, the logits chunk, the
 * losses, adapter state, and the backward scratch `dres`, `dtmp`, `dlnf`, `dxa`).
 */
export interface ActivationSpec {
  /** What one block's forward saves for its backward; one set per block (one shared set with checkpointing). */
  saved: BufferSizes;
  /**
   * What the block's row-wise tail (its MLP: every row computed on its own) saves, in f32 values per row. The tail
   * runs in chunks of Activations.rowChunk rows, forward and backward: each block keeps every row of it, or with
   * checkpointing one chunk's rows shared by every block (backward recomputes the tail a chunk at a time).
   */
  rowSaved: BufferSizes;
  /** What the final norm saves for its backward. */
  top: BufferSizes;
  /** Backward scratch shared by every block (allocated only with gradients). */
  scratch: BufferSizes;
  /** Backward scratch of the row-wise tail, in f32 values per row (one chunk's rows; only with gradients). */
  rowScratch: BufferSizes;
}

/** One block's step of inference with a KV cache (batch 1, no gradients, adapters unmerged). */
export interface InferenceStep {
  /** [n, C]: the block's input on entry, its output on exit. */
  x: Float32Array;
  /** Rows in this chunk. */
  n: number;
  /** Tokens already in the cache (the chunk's first position). */
  past: number;
  /** [n] position ids. */
  pos: Int32Array;
  /** This block's cache [maxTokens, kv width] of keys and of values. */
  kCache: Float32Array;
  vCache: Float32Array;
  /** The family's work buffers (sized by `inferenceBuffers`). */
  work: Buffers;
  /** Scratch for the adapter of every linear (no dropout; pass it to linearForward as the cache). */
  adapter: AdapterCache;
}

/**
 * How the assembler hands loaded tensors to a family: each call takes one tensor by name (checked against the
 * spec: present, right shape, transposed if the spec says so); problems are collected and reported together.
 */
export interface ParamSource {
  /** A linear module by name (without ".weight"): its weight in the storage dtype, its bias if the spec has one. */
  linear(module: string): Linear;
  /** An f32 parameter (norm weight or bias, position embedding). */
  f32(name: string): F32Param;
  /** A tensor in the storage dtype (embedding-like tables). */
  stored(name: string): StoredTensor;
}

/** A tensor llama.cpp needs that the Hugging Face checkpoint does not have (rope_freqs for Llama-3 RoPE scaling). */
export interface GgufExtraTensor {
  name: string;
  /** Outermost first. */
  shape: number[];
  values: Float32Array;
}

/** What a family's GGUF reader sees of a file before any weight is read: its metadata and tensor shapes. */
export interface GgufModelView {
  /** The .gguf path (for messages). */
  path: string;
  metadata: GgufMetadata;
  /** The shape (outermost first) of a tensor of the file, or undefined when the file has none of that name. */
  shape(ggufName: string): number[] | undefined;
  /** The values of a (small) tensor of the file as f32 (rope_freqs). */
  f32(ggufName: string): Float32Array;
}

/**
 * How llama.cpp knows the family: its GGUF architecture, tensor names, hyperparameter keys, and the row order its
 * graph expects, both ways (export writes them; a GGUF base model is read back through the inverses). A family
 * without this record cannot be exported for llama.cpp nor loaded from a GGUF file.
 */
export interface GgufNaming {
  /** general.architecture, the prefix of the hyperparameter keys ("llama", "qwen2", "qwen3"). */
  readonly arch: string;
  /** The GGUF name of a Hugging Face tensor name ("model.layers.3.self_attn.q_proj.weight" → "blk.3.attn_q.weight"). */
  tensorName(hfName: string): string | null;
  /**
   * Rows of this tensor (a weight [out, in] or a bias [out], or a LoRA B [out, r]) are reordered per head for
   * llama.cpp's RoPE: the number of heads to reorder over, or null to keep them (only q/k of a rotate-half family
   * whose llama.cpp graph rotates adjacent pairs).
   */
  permuteHeads(hfName: string, c: ModelConfig): number | null;
  /**
   * A constant llama.cpp's converter adds to every value of this tensor (Gemma's norm weights, stored as 1 + w), 0
   * for none; absent: none. Applies to 1-D tensors (written in f32).
   */
  valueShift?(hfName: string): number;
  /** The hyperparameters as GGUF metadata (`${arch}.context_length`, …). */
  metadata(c: ModelConfig): [string, GgufValue][];
  /** Tensors llama.cpp needs beyond the checkpoint's. */
  extraTensors(c: ModelConfig): GgufExtraTensor[];
  /** The inverse of tensorName: the Hugging Face name of a GGUF weight, or null for one the family lacks. */
  hfTensorName(ggufName: string): string | null;
  /**
   * The inverse of metadata and extraTensors: the Hugging Face config.json equivalent to the file (model_type,
   * sizes from the metadata and the tensor shapes, RoPE scaling from rope_freqs), which the family's parseConfig
   * then reads. Throws ERR_GGUF / ERR_UNSUPPORTED naming the file and the key or tensor.
   */
  configJson(view: GgufModelView): Record<string, unknown>;
  /** GGUF tensors that configJson reads and that are no weight of the model (rope_freqs.weight). */
  readonly configTensors: readonly string[];
  /**
   * Where llama.cpp's graph for this config is known to compute otherwise than loratune (and transformers): one line
   * each, for export's notes; absent or [] when it does not.
   */
  notes?(c: ModelConfig): string[];
}

/**
 * A model family. `L` is the family's block (its linears and norm weights, typed), `T` its weights outside the
 * blocks other than the token embedding and the head (final norm, RoPE tables, position embeddings).
 */
export interface ModelFamily<L = unknown, T = unknown> {
  /** Name in messages and docs ("llama"). */
  readonly name: string;
  /** config.json `model_type` values this record reads. */
  readonly modelTypes: readonly string[];
  /** Module names of block i start with `${blockPrefix}${i}.` ("model.layers.", GPT-2: "transformer.h."). */
  readonly blockPrefix: string;
  /**
   * Name of the output head tensor ("lm_head.weight"). params() lists it only when the head is untied; a tied
   * checkpoint may still store its one table under this name alone (it is then used as the embedding).
   */
  readonly headName: string;
  /** LoRA target_modules PEFT uses for this model type when none are given (["q_proj", "v_proj"]). */
  readonly defaultTargets: readonly string[];
  /** llama.cpp's names for the family (GGUF export); absent when llama.cpp has no architecture for it. */
  readonly gguf?: GgufNaming;
  /**
   * The Hugging Face name of a tensor as a safetensors checkpoint names it, or null for a tensor that is no weight
   * (a saved buffer, skipped unread). Absent: the file uses the names of params() as they are. GPT-2 files saved
   * from GPT2Model name "h.0.attn.c_attn.weight" what params() names "transformer.h.0.attn.c_attn.weight".
   */
  fileTensorName?(fileName: string): string | null;

  /**
   * The soft-cap c of the output logits (z = c·tanh(logits / c), Gemma 2's final_logit_softcapping), or 0 for
   * none; absent: none.
   */
  logitSoftcap?(c: ModelConfig): number;

  /** config.json (already known to be one of modelTypes) → ModelConfig; throws ERR_CONFIG / ERR_UNSUPPORTED. */
  parseConfig(raw: Record<string, unknown>, where: string): ModelConfig;
  /**
   * Every tensor of the model, in the order random init draws them (keep it stable: seeded models depend on it).
   * Exactly one "embedding"; one "head" unless tied.
   */
  params(c: ModelConfig): ParamSpec[];

  /**
   * Builds the blocks and the weights outside them from the loaded tensors. Tensors are taken in the order the
   * family asks for them (the order missing or mis-shaped ones are listed in). `positions`: the positions the
   * model is loaded for (RoPE tables or position embeddings cover these).
   */
  assemble(c: ModelConfig, take: ParamSource, positions: number): { layers: L[]; top: T };
  /** The block's linears in a stable order (LoRA attach order, adapter and trainable-parameter order). */
  blockLinears(layer: L): Linear[];
  /** The block's f32 parameters other than linear biases (norm weights), in full fine-tuning order. */
  blockParams(layer: L): F32Param[];
  /** The f32 parameters outside the blocks (final norm), in full fine-tuning order. */
  topParams(top: T): F32Param[];

  /** Activation buffers for N rows (see ActivationSpec). */
  activations(c: ModelConfig, N: number): ActivationSpec;
  /** x[N, C] = the block stack's input for ids/pos (token embedding, plus positions where the family has them). */
  embedForward(k: Kernels, model: Model<L, T>, x: Float32Array, ids: Int32Array, pos: Int32Array, N: number): void;
  /** Gradients of the embeddings from dx[N, C] (only where they train: model.dEmbed non-null, …). */
  embedBackward(k: Kernels, model: Model<L, T>, dx: Float32Array, ids: Int32Array, pos: Int32Array, N: number): void;
  /**
   * One block: a.resid → out, saving what backward needs into a.saved. Also backward's recompute with activation
   * checkpointing (dropout "replay"), which may stop before the row-wise tail when a.rowWindow (the block's
   * backward recomputes that a chunk at a time) and then leaves `out` unwritten.
   */
  layerForward(
    k: Kernels,
    model: Model<L, T>,
    layer: L,
    a: LayerActivations,
    out: Float32Array,
    input: ModelInput,
    dropout: DropoutSource,
  ): void;
  /**
   * On entry acts.dres = d(block output); on exit acts.dres = d(block input) when `needInputGrad` (anything below
   * trains). Parameter gradients accumulate. The family may need the input gradient for its own reasons too
   * (a norm on the block input whose weight trains).
   */
  layerBackward(
    k: Kernels,
    model: Model<L, T>,
    layer: L,
    a: LayerActivations,
    acts: Activations,
    input: ModelInput,
    needInputGrad: boolean,
  ): void;
  /** out[N, C] = final norm of x[N, C], saving into `saved` (sized by ActivationSpec.top). */
  finalForward(k: Kernels, model: Model<L, T>, out: Float32Array, x: Float32Array, saved: Buffers, N: number): void;
  /** dx[N, C] = backward of finalForward from dout; the norm's parameter gradients accumulate. */
  finalBackward(
    k: Kernels,
    model: Model<L, T>,
    dx: Float32Array,
    dout: Float32Array,
    x: Float32Array,
    saved: Buffers,
    N: number,
  ): void;

  /** Work buffers of one inference chunk of n rows. */
  inferenceBuffers(c: ModelConfig, n: number): BufferSizes;
  /** One block over a chunk, appending its keys and values to the cache. */
  inferenceStep(k: Kernels, model: Model<L, T>, layer: L, step: InferenceStep): void;
}

/** The block index of a module or tensor name under `prefix` ("model.layers.12.mlp.up_proj" → 12), else null. */
export function blockIndex(prefix: string, name: string): number | null {
  if (!name.startsWith(prefix)) return null;
  const m = /^(\d+)\./.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : null;
}
