/** What a GPU trainer test sends to its page (trainer-browser.ts → trainer-page-entry.ts); plain JSON. */

/** One tensor of the model, as a slice of the served /tensors.bin. */
export interface TensorSlice {
  name: string;
  dtype: "f32" | "bf16";
  shape: number[];
  byteOffset: number;
  byteLength: number;
}

/** A micro-batch as plain arrays (data/batch.ts's Batch). */
export interface PlainBatch {
  B: number;
  T: number;
  ids: number[];
  targets: number[];
  pos: number[];
  seg: number[] | null;
  nLabelTokens: number;
}

export interface TrainerRequest {
  /** config.json of the model. */
  config: Record<string, unknown>;
  /** The model's tensors in memory layout (assembleModel's fileLayout false), served as /tensors.bin. */
  tensors: TensorSlice[];
  /** The storage dtype of the big weights. */
  dtype: "f32" | "bf16";
  /** LoRA settings (attachLora with defaultLoraConfig(lora) and a Rng(seed) uniform, as api/train.ts does). */
  lora: {
    r: number;
    loraAlpha: number;
    targetModules: string | string[];
    useRslora?: boolean;
    /** PEFT's init_lora_weights: false draws B uniformly too (non-zero A gradients from the first step). */
    initLoraWeights?: boolean;
  };
  seed: number;
  maxRows: number;
  maxSeqLen: number;
  optimizer: { beta1: number; beta2: number; eps: number; weightDecay: number };
  maxGradNorm: number;
  /** "gradients": one forward + backward of steps[0]; "train": every step, then the adapter. */
  mode: "gradients" | "train";
  steps: { micro: PlainBatch[]; lr: number }[];
}

export interface TrainerResult {
  losses: number[];
  gradNorms: number[];
  /** mode "gradients": the gradients by PEFT key; "train": the trained adapter by PEFT key. */
  tensors: Record<string, number[]>;
  /** The trainer's parameter names in order. */
  names: string[];
  /** Seconds spent in the steps (after creation), for the speed note. */
  stepSeconds: number;
}

/** What the page puts on globalThis.webgpuTrainer. */
export interface PageTrainer {
  unavailable(): Promise<string | undefined>;
  run(req: TrainerRequest): Promise<TrainerResult>;
}

export type TrainerPageGlobal = { webgpuTrainer?: PageTrainer };
