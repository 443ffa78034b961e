/**
 * What `train()` takes and gives back, as a library caller sees it. Each option is one of TRAIN_OPTIONS
 * (train-options.ts: the same definition feeds `loratune train --help` and YAML config files), camelCased; its
 * doc comment repeats the table's help and default, and test/unit/library-types.test.ts holds the two together
 * (names, optionality, types, choices, `@defaultValue`).
 */
import type { DatasetFile } from "../data/dataset.ts";
import type { QuantizeChoice, StorageDType } from "../tensor/formats/index.ts";
import type { TrainEvent, TrainResult } from "../train/trainer.ts";

/**
 * A training run: the model, the data and the run directory are required, every other option is at its
 * default unless given (TRAIN_DEFAULTS lists them), e.g. `train({ model: "demo", data: "train.jsonl", out:
 * "runs/a", steps: 100 })`.
 */
export interface TrainOptions {
  /** Model directory (Hugging Face layout), or "demo" for the bundled model. */
  model: string;
  /** With a Hugging Face cache id (`org/name`): the branch, tag or commit hash of the snapshot (default: main). */
  revision?: string;
  /**
   * Training data: JSONL or Parquet file(s), comma-separated, or a dataset folder in the Hugging Face layout (its
   * train split; its validation split is `val` unless one is given).
   */
  data: string;
  /** Run directory for the adapter, checkpoints, metrics and report (with `resume`: the run's own). */
  out: string;
  /** Validation data: a JSONL or Parquet file, or a dataset folder (its validation split, else its test split). */
  val?: string;
  /**
   * Hold out this fraction of the training rows for validation (when no `val`), in [0, 1).
   * @defaultValue 0
   */
  valSplit?: number;
  /** The config file these options were read from: only checked as an input (`out` may not hold it). */
  config?: string;
  /**
   * Replace `out` if it is an earlier loratune run (never a directory loratune did not write).
   * @defaultValue false
   */
  overwrite?: boolean;
  /**
   * Continue this run directory (or one of its checkpoints). A library caller passes the run's settings
   * again (they are checked against the checkpoint); a larger `steps` or `epochs` extends the run.
   */
  resume?: string;
  /**
   * Full-parameter fine-tuning instead of LoRA (needs dtype "f32").
   * @defaultValue false
   */
  full?: boolean;
  /**
   * In-memory dtype of the frozen base weights.
   * @defaultValue "f32"
   */
  dtype?: StorageDType;
  /** Quantize the base's linear weights on load (ggml's Q8_0 or Q4_K blocks; costs accuracy). */
  quantize?: QuantizeChoice;
  /**
   * LoRA rank r, at least 1.
   * @defaultValue 8
   */
  rank?: number;
  /**
   * LoRA alpha, above 0 (scale = alpha/r, or alpha/sqrt(r) with `rslora`).
   * @defaultValue 16
   */
  alpha?: number;
  /**
   * LoRA dropout on the adapter input, in [0, 1).
   * @defaultValue 0
   */
  dropout?: number;
  /**
   * Modules to adapt: names ("q_proj,v_proj"), "all-linear", or "re:<regex>". Default: the model family's
   * (q_proj,v_proj for Llama-style models).
   */
  targets?: string;
  /**
   * Rank-stabilised scaling alpha/sqrt(r).
   * @defaultValue false
   */
  rslora?: boolean;
  /**
   * DoRA (PEFT's use_dora): a trained magnitude per output row on top of LoRA's direction.
   * @defaultValue false
   */
  dora?: boolean;
  /**
   * LoRA initialisation (PEFT's init_lora_weights): "kaiming" (its true), "gaussian", "pissa", "pissa_niter_N"
   * or "olora". PiSSA and OLoRA take A and B from each adapted weight and replace it in memory by the residual
   * W − s·B·A; the adapter is saved converted to a plain LoRA of rank 2r relative to the original base.
   * @defaultValue "kaiming"
   */
  init?: string;
  /** Only adapt these layer indices (comma-separated, e.g. "0,1,2"). */
  layers?: string;
  /** With `layers`: PEFT's layers_pattern, the name before the layer index ("layers"; comma-separated for several). */
  layersPattern?: string;
  /** PEFT's rank_pattern as "KEY=N,KEY=N" (KEY matches the end of a module name, e.g. "v_proj=16"). */
  rankPattern?: string;
  /** PEFT's alpha_pattern as "KEY=N,KEY=N". */
  alphaPattern?: string;
  /**
   * PEFT's modules_to_save, comma-separated ("lm_head,embed_tokens"): trained whole (f32 weights) and saved in the
   * adapter as base_model.model.<module>.weight; naming the head or embedding of a tied model unties them.
   */
  modulesToSave?: string;
  /**
   * Special tokens to add, comma-separated ("<|im_start|>,<|im_end|>"): the tokenizer gains them (written into the
   * run directory), the embedding (and an untied head) grows by their rows, and only those rows train, saved as
   * PEFT's trainable_token_indices. Tokens already in the vocabulary are refused.
   */
  addTokens?: string;
  /** Start from this PEFT adapter directory (its rank, alpha and targets). */
  initAdapter?: string;
  /**
   * Optimizer steps (0: use `epochs`).
   * @defaultValue 0
   */
  steps?: number;
  /**
   * Passes over the training data when `steps` is 0.
   * @defaultValue 1
   */
  epochs?: number;
  /**
   * Sequences per micro-batch (with a preference `method`: pairs).
   * @defaultValue 4
   */
  batchSize?: number;
  /**
   * Micro-batches per optimizer step.
   * @defaultValue 1
   */
  gradAccum?: number;
  /**
   * Maximum tokens per sequence (longer examples are truncated), at least 2.
   * @defaultValue 512
   */
  seqLen?: number;
  /**
   * Activation checkpointing: keep only each layer's input and recompute the layer during backward (less
   * memory, bit-identical results, about 1.5x the time).
   * @defaultValue false
   */
  gradCheckpoint?: boolean;
  /**
   * Before loading the weights, compare the run's memory estimate with the memory available (MemAvailable and any
   * cgroup limit, or LORATUNE_MEMORY_LIMIT) and refuse a run that would not fit (false: train anyway).
   * @defaultValue true
   */
  memoryCheck?: boolean;
  /**
   * Pack several examples per sequence (they never attend to each other).
   * @defaultValue false
   */
  pack?: boolean;
  /**
   * Shuffle the rows (false: keep them in file order).
   * @defaultValue true
   */
  shuffle?: boolean;
  /**
   * Seed for LoRA init, shuffling and dropout.
   * @defaultValue 42
   */
  seed?: number;
  /**
   * Peak learning rate, above 0.
   * @defaultValue 0.0002
   */
  lr?: number;
  /**
   * Learning-rate schedule after warmup.
   * @defaultValue "constant"
   */
  lrSchedule?: "constant" | "linear" | "cosine";
  /**
   * Linear warmup steps.
   * @defaultValue 0
   */
  warmupSteps?: number;
  /**
   * AdamW decoupled weight decay.
   * @defaultValue 0
   */
  weightDecay?: number;
  /**
   * LoRA+: lora_B (and DoRA's magnitude vector) learn at this multiple of `lr` (PEFT's create_loraplus_optimizer;
   * 0: off).
   * @defaultValue 0
   */
  loraplusLrRatio?: number;
  /**
   * Clip the global gradient norm (0: off).
   * @defaultValue 0
   */
  maxGradNorm?: number;
  /**
   * Evaluate on the validation set every N steps (0: only at the end).
   * @defaultValue 0
   */
  evalEvery?: number;
  /**
   * Stop after N evaluations without improvement (0: off).
   * @defaultValue 0
   */
  earlyStopping?: number;
  /**
   * What each evaluation scores besides the validation loss: "exact-match" adds held-out exact match and token
   * accuracy of greedy completions (prompt/completion and chat data).
   * @defaultValue "loss"
   */
  metric?: "loss" | "exact-match";
  /**
   * The training objective: "sft" (supervised: next-token loss on completions), or preference tuning on
   * {"prompt","chosen","rejected"} pairs: "dpo" (against the model with its adapter off), "ipo", or "orpo" (no
   * reference; odds-ratio term plus the chosen completions' NLL).
   * @defaultValue "sft"
   */
  method?: "sft" | "dpo" | "ipo" | "orpo";
  /**
   * DPO/IPO: β, how far the policy may move from the reference (TRL's default).
   * @defaultValue 0.1
   */
  beta?: number;
  /**
   * DPO: cDPO label smoothing, the assumed share of preference labels that are flipped, in [0, 0.5).
   * @defaultValue 0
   */
  labelSmoothing?: number;
  /**
   * ORPO: λ, the weight of the odds-ratio term against the chosen completions' NLL (TRL's ORPOConfig beta).
   * @defaultValue 0.1
   */
  orpoLambda?: number;
  /**
   * Write a checkpoint every N steps (0: only at the end and on interruption).
   * @defaultValue 0
   */
  saveEvery?: number;
  /**
   * Checkpoints kept on disk.
   * @defaultValue 2
   */
  keepCheckpoints?: number;
  /**
   * Also train on prompts / user turns (by default only completions and assistant turns are trained).
   * @defaultValue false
   */
  trainOnPrompt?: boolean;
  /** Chat template file to use instead of the tokenizer's (kept in the run as chat_template.jinja). */
  chatTemplate?: string;
  /** AdamW β1 (no flag; ADAMW_DEFAULTS). */
  beta1?: number;
  /** AdamW β2 (no flag; ADAMW_DEFAULTS). */
  beta2?: number;
  /** AdamW ε (no flag; ADAMW_DEFAULTS). */
  adamEps?: number;
  /**
   * Stops the run like Ctrl-C does: the current step finishes, a checkpoint is written, and `train()` resolves
   * with reason "interrupted"; `resume: out` continues it. Already aborted: `train()` rejects at once.
   */
  signal?: AbortSignal;
  /** Progress: "start", then "step" after every optimizer step, "eval", "checkpoint", and "end" last. */
  onEvent?: (event: TrainEvent) => void;
  /** The run's summary (data, trainable parameters, memory estimate), once everything is read, before step 1. */
  onSummary?: (summary: TrainSummary) => void;
  /** Warnings and notes about the settings (default: printed to stderr). */
  onMessage?: (text: string) => void;
}

/** The callbacks and signal of a run, as `train(options, hooks)` also takes them (the options' win). */
export type TrainHooks = Pick<TrainOptions, "onSummary" | "onEvent" | "onMessage" | "signal">;

export interface TrainSummary {
  model: string;
  mode: "lora" | "full";
  /** Each training data file with its detected row shape (and, for Alpaca rows, the prompt format used). */
  dataFiles: DatasetFile[];
  trainExamples: number;
  valExamples: number;
  trainTokens: number;
  labelTokens: number;
  truncated: number;
  trainableParams: number;
  totalParams: number;
  estimatedPeakBytes: number;
}

/** What `train()` resolves with: how the run ended, where it is, and what it was. */
export interface TrainOutcome extends TrainResult {
  /** The run directory (`out`). */
  outDir: string;
  summary: TrainSummary;
  /** The optimizer steps the run is set up for. */
  totalSteps: number;
}
