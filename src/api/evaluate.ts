/** `evaluate()`: mean next-token loss and perplexity over all label tokens of a dataset (not a mean of row means). */
import { makeBatches } from "../data/batch.ts";
import { readDataset } from "../data/dataset.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { allocateActivations } from "../model/activations.ts";
import { evalLossSum } from "../model/loss.ts";
import { firstRowShapes } from "../train/preflight.ts";
import { loadForInference } from "./models.ts";

export interface EvaluateOptions {
  model: string;
  adapter?: string;
  data: string;
  dtype?: "f32" | "bf16";
  batchSize?: number;
  seqLen?: number;
  /**
   * A chat template file for {"messages"} rows. Default: the adapter directory's chat_template.jinja (kept by
   * the run that trained it), else the model's template.
   */
  chatTemplate?: string;
  /** Called after each batch (and once before the first, with done = 0). */
  onProgress?: (p: EvaluateProgress) => void;
}

export interface EvaluateProgress {
  /** Batches evaluated so far, of `batches`. */
  done: number;
  batches: number;
  /** Label tokens evaluated so far, of `totalTokens`. */
  tokens: number;
  totalTokens: number;
}

export interface EvaluateResult {
  loss: number;
  perplexity: number;
  tokens: number;
}

export function evaluate(o: EvaluateOptions): EvaluateResult {
  const batchSize = o.batchSize ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new LoratuneError("ERR_USAGE", `--batch-size: expected an integer ≥ 1, got ${batchSize}`);
  if (o.seqLen !== undefined && !(Number.isInteger(o.seqLen) && o.seqLen >= 2))
    throw new LoratuneError("ERR_USAGE", `--seq-len: expected an integer ≥ 2, got ${o.seqLen}`);
  const { dir, model, tokenizer } = loadForInference(o);
  if (tokenizer && tokenizer.chatTemplate === null) {
    const chat = firstRowShapes([o.data]).find((s) => s === "messages" || s === "sharegpt");
    if (chat) {
      const adapter = o.adapter ? `, nor does the adapter ${o.adapter} (no chat_template.jinja)` : "";
      throw new LoratuneError(
        "ERR_TOKENIZER",
        `${o.data}: the rows are "${chat}" conversations, but ${dir} has no chat template${adapter}; pass ` +
          "--chat-template FILE (a Jinja template, or a tokenizer_config.json holding one)",
      );
    }
  }
  const seqLen = Math.min(o.seqLen ?? model.positions, model.positions);
  const data = readDataset(o.data, tokenizer, { seqLen, vocabSize: model.config.vocabSize });
  const batches = makeBatches(data.examples, { batchSize, seqLen, padId: tokenizer?.pad?.id ?? 0 });
  const longest = Math.max(...batches.map((b) => b.T));
  const acts = allocateActivations(model, batchSize, longest, { withGrad: false });
  const k = getKernels();
  const totalTokens = batches.reduce((n, b) => n + b.nLabelTokens, 0);
  // The same sum, in the same order, as the trainer's evaluation (a token-weighted mean).
  let sum = 0;
  let tokens = 0;
  o.onProgress?.({ done: 0, batches: batches.length, tokens: 0, totalTokens });
  batches.forEach((b, i) => {
    if (b.nLabelTokens > 0) {
      sum += evalLossSum(k, model, acts, b);
      tokens += b.nLabelTokens;
    }
    o.onProgress?.({ done: i + 1, batches: batches.length, tokens, totalTokens });
  });
  const loss = tokens > 0 ? sum / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), tokens };
}
