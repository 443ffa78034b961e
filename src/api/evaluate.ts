/** `evaluate()`: mean next-token loss and perplexity over all label tokens of a dataset (not a mean of row means). */
import { makeBatches } from "../data/batch.ts";
import { readDataset } from "../data/dataset.ts";
import { getKernels } from "../kernels/index.ts";
import { allocateActivations } from "../model/activations.ts";
import { evaluateBatches } from "../train/trainer.ts";
import { loadForInference } from "./models.ts";

export interface EvaluateOptions {
  model: string;
  adapter?: string;
  data: string;
  dtype?: "f32" | "bf16";
  batchSize?: number;
  seqLen?: number;
}

export interface EvaluateResult {
  loss: number;
  perplexity: number;
  tokens: number;
}

export function evaluate(o: EvaluateOptions): EvaluateResult {
  const { model, tokenizer } = loadForInference(o);
  const seqLen = Math.min(o.seqLen ?? model.rope.maxPositions, model.rope.maxPositions);
  const data = readDataset(o.data, tokenizer, { seqLen, vocabSize: model.config.vocabSize });
  const batchSize = o.batchSize ?? 4;
  const batches = makeBatches(data.examples, { batchSize, seqLen, padId: tokenizer?.pad?.id ?? 0 });
  const longest = Math.max(...batches.map((b) => b.T));
  const acts = allocateActivations(model, batchSize, longest, { withGrad: false });
  const { loss, tokens } = evaluateBatches(getKernels(), model, acts, batches);
  return { loss, perplexity: Math.exp(loss), tokens };
}
