/**
 * `evaluate()`: mean next-token loss and perplexity over all label tokens of a dataset (not a mean of row means),
 * and with `metric: "exact-match"` the task metric of train/task-metric.ts (greedy completions of each row's prompt).
 * Asynchronous: it yields to the event loop after every batch, so progress can be shown and `signal` can stop it.
 */
import { makeBatches } from "../data/batch.ts";
import { readDataset } from "../data/dataset.ts";
import { LoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { allocateActivations } from "../model/activations.ts";
import { evalLossSum } from "../model/loss.ts";
import { type QuantizeChoice, STORAGE_DTYPES, type StorageDType } from "../tensor/formats/index.ts";
import type { PreferenceMetrics } from "../train/objective.ts";
import { isPreferenceMethod, PREFERENCE_DEFAULTS, TRAIN_METHODS, type TrainMethod } from "../train/preference-loss.ts";
import {
  checkTaskMetricData,
  scoreCompletions,
  TASK_METRICS,
  type TaskMetric,
  taskItems,
} from "../train/task-metric.ts";
import { evaluatePreferencePairs } from "./evaluate-preference.ts";
import { checkLoadedModelOptions, type LoadedModel, loadForInference } from "./models.ts";
import { inCallerTerms } from "./option-names.ts";
import { defaultsOf, type OptionDef, resolveOptions } from "./options.ts";
import { QUANTIZE_OPTION } from "./quantize-option.ts";
import { REVISION_OPTION } from "./revision-option.ts";

/** `loratune eval`'s options; `evaluate()` takes the same, camelCased, and defaults the rest from here. */
export const EVAL_OPTIONS: readonly OptionDef[] = [
  {
    key: "model",
    kind: "string",
    help: "model directory, GGUF file, ollama:NAME, org/name (the Hugging Face cache), or 'demo'",
    metavar: "dir",
    required: true,
  },
  REVISION_OPTION,
  {
    key: "data",
    kind: "string",
    help: "JSONL or Parquet dataset, or a dataset folder (its train split); any shape `train` reads, pre-tokenized rows used as they are",
    metavar: "file",
    required: true,
  },
  { key: "adapter", kind: "string", help: "PEFT adapter or run directory to apply", metavar: "dir" },
  {
    key: "chat-template",
    kind: "string",
    help: 'chat template for {"messages"} rows',
    defaultText: "the adapter's chat_template.jinja, else the model's",
    metavar: "file",
  },
  {
    key: "dtype",
    kind: "choice",
    help: `in-memory dtype of the base weights: ${STORAGE_DTYPES.join(" or ")}`,
    default: "f32",
    choices: STORAGE_DTYPES,
  },
  QUANTIZE_OPTION,
  { key: "batch-size", kind: "int", help: "rows per batch", default: 4, min: 1 },
  {
    key: "seq-len",
    kind: "int",
    help: "truncate rows to this many tokens",
    defaultText: "the model's maximum",
    min: 2,
  },
  {
    key: "metric",
    kind: "choice",
    help: "also score the task metric: exact-match adds exact match and token accuracy of greedy completions of each row's prompt (prompt/completion and chat data)",
    default: "loss",
    choices: TASK_METRICS,
  },
  {
    key: "method",
    kind: "choice",
    help: 'score preference pairs ({"prompt","chosen","rejected"} rows, chat pairs too) as train --method does: the preference loss, reward accuracy, margins, log-probs and preference accuracy of the model with the adapter against it without (dpo, ipo; orpo needs no reference)',
    default: "sft",
    choices: TRAIN_METHODS,
  },
  { key: "beta", kind: "number", help: "dpo/ipo: beta", default: PREFERENCE_DEFAULTS.beta, above: 0 },
  {
    key: "label-smoothing",
    kind: "number",
    help: "dpo: cDPO label smoothing, in [0, 0.5)",
    default: PREFERENCE_DEFAULTS.labelSmoothing,
    min: 0,
    below: 0.5,
  },
  { key: "orpo-lambda", kind: "number", help: "orpo: lambda", default: PREFERENCE_DEFAULTS.orpoLambda, min: 0 },
  {
    key: "json",
    kind: "bool",
    help: 'print one JSON object: {"loss", "perplexity", "tokens"} (with --metric exact-match also "exact_match", "token_accuracy", "scored_rows")',
    control: true,
    cliOnly: true,
  },
];

/** What `evaluate()` takes: the model and the data, and any option that differs from its default (EVAL_DEFAULTS). */
export interface EvaluateOptions {
  /** Model directory ("demo": the bundled model), or a model already loaded with `loadModel()`. */
  model: string | LoadedModel;
  /** With a Hugging Face cache id (`org/name`): the branch, tag or commit hash of the snapshot (default: main). */
  revision?: string;
  /**
   * JSONL or Parquet dataset, or a dataset folder (its train split); any shape `train` reads, pre-tokenized rows
   * used as they are.
   */
  data: string;
  /** PEFT adapter or run directory to apply (a directory `model` only; a loaded model brings its own). */
  adapter?: string;
  /**
   * A chat template file for {"messages"} rows. Default: the adapter directory's chat_template.jinja (kept by
   * the run that trained it), else the model's template.
   */
  chatTemplate?: string;
  /**
   * In-memory dtype of the base weights.
   * @defaultValue "f32"
   */
  dtype?: StorageDType;
  /** Quantize the base's linear weights on load (ggml's Q8_0 or Q4_K blocks; costs accuracy). */
  quantize?: QuantizeChoice;
  /**
   * Rows per batch.
   * @defaultValue 4
   */
  batchSize?: number;
  /** Truncate rows to this many tokens, at least 2. Default: the model's maximum (max_position_embeddings). */
  seqLen?: number;
  /**
   * Also score the task metric: "exact-match" adds exact match and token accuracy of greedy completions of each
   * row's prompt (prompt/completion and chat data).
   * @defaultValue "loss"
   */
  metric?: "loss" | "exact-match";
  /**
   * "sft": token loss and perplexity. "dpo", "ipo", "orpo": the data are preference pairs, scored as train's
   * evaluations score them (`preference` in the result; batchSize counts pairs).
   * @defaultValue "sft"
   */
  method?: "sft" | "dpo" | "ipo" | "orpo";
  /**
   * DPO/IPO: β.
   * @defaultValue 0.1
   */
  beta?: number;
  /**
   * DPO: cDPO label smoothing, in [0, 0.5).
   * @defaultValue 0
   */
  labelSmoothing?: number;
  /**
   * ORPO: λ.
   * @defaultValue 0.1
   */
  orpoLambda?: number;
  /** Called after each batch (and once before the first, with done = 0). */
  onProgress?: (p: EvaluateProgress) => void;
  /** Stops the evaluation after the current batch: `evaluate()` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Every eval option's default, by its library name. */
export const EVAL_DEFAULTS = defaultsOf<EvaluateOptions>(EVAL_OPTIONS);

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
  /** With metric "exact-match": the share of rows completed exactly, of reference tokens predicted, and the rows. */
  exactMatch?: number;
  tokenAccuracy?: number;
  scoredRows?: number;
  /** With a preference method: the pair metrics (perplexity is then NaN: the loss is not a token loss). */
  preference?: PreferenceMetrics;
}

/** The options a loaded model does not take: it was loaded already (with its adapter and template). */
const LOADING = ["model", "adapter", "chat-template", "dtype", "quantize"];
const WITHOUT_LOADING = EVAL_OPTIONS.filter((d) => !LOADING.includes(d.key));

/** Mean loss and perplexity of the model (and adapter) over every label token of `data`. */
export function evaluate(options: EvaluateOptions): Promise<EvaluateResult> {
  return inCallerTerms(EVAL_OPTIONS, () => runEvaluate(options));
}

async function runEvaluate(options: EvaluateOptions): Promise<EvaluateResult> {
  options.signal?.throwIfAborted();
  checkLoadedModelOptions("evaluate", options);
  const table = typeof options.model === "string" ? EVAL_OPTIONS : WITHOUT_LOADING;
  const o = resolveOptions<
    EvaluateOptions & {
      dtype: StorageDType;
      batchSize: number;
      metric: TaskMetric;
      method: TrainMethod;
      beta: number;
      labelSmoothing: number;
      orpoLambda: number;
    }
  >("evaluate", table, options);
  const { batchSize } = o;
  const { dir, model, tokenizer, adapterPath } =
    typeof o.model === "string" ? loadForInference({ ...o, model: o.model }) : o.model;
  // Conversations need a chat template: refused as the file's shape is detected, before a row is encoded.
  const needsTemplate = (shape: string) =>
    tokenizer !== null && tokenizer.chatTemplate === null && (shape === "messages" || shape === "sharegpt");
  const onShape = (_file: string, shape: string) => {
    if (!needsTemplate(shape)) return;
    const adapter = adapterPath ? `, nor does the adapter ${adapterPath} (no chat_template.jinja)` : "";
    throw new LoratuneError(
      "ERR_TOKENIZER",
      `${o.data}: the rows are "${shape}" conversations, but ${dir} has no chat template${adapter}; pass ` +
        "--chat-template FILE (a Jinja template, or a tokenizer_config.json holding one)",
    );
  };
  const seqLen = Math.min(o.seqLen ?? model.positions, model.positions);
  if (isPreferenceMethod(o.method)) {
    if (o.metric !== "loss")
      throw new LoratuneError("ERR_USAGE", `--method ${o.method} cannot be combined with --metric ${o.metric}`);
    const { method, beta, labelSmoothing, orpoLambda } = o;
    const pref = { method, beta, labelSmoothing, orpoLambda };
    return evaluatePreferencePairs({
      data: o.data,
      model,
      tokenizer,
      batchSize,
      seqLen,
      pref,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }
  const data = readDataset(o.data, tokenizer, { seqLen, vocabSize: model.config.vocabSize, onShape });
  if (o.metric === "exact-match") checkTaskMetricData(data.files, false);
  const batches = makeBatches(data.examples, { batchSize, seqLen, padId: tokenizer?.pad?.id ?? 0 });
  const longest = Math.max(...batches.map((b) => b.T));
  const acts = allocateActivations(model, batchSize, longest, { withGrad: false });
  const k = getKernels();
  const totalTokens = batches.reduce((n, b) => n + b.nLabelTokens, 0);
  // The same sum, in the same order, as the trainer's evaluation (a token-weighted mean).
  let sum = 0;
  let tokens = 0;
  o.onProgress?.({ done: 0, batches: batches.length, tokens: 0, totalTokens });
  for (const [i, b] of batches.entries()) {
    if (b.nLabelTokens > 0) {
      sum += evalLossSum(k, model, acts, b);
      tokens += b.nLabelTokens;
    }
    o.onProgress?.({ done: i + 1, batches: batches.length, tokens, totalTokens });
    await new Promise<void>((resolve) => setImmediate(resolve));
    o.signal?.throwIfAborted();
  }
  const loss = tokens > 0 ? sum / tokens : Number.NaN;
  const result: EvaluateResult = { loss, perplexity: Math.exp(loss), tokens };
  if (o.metric !== "exact-match") return result;
  const task = scoreCompletions(k, model, taskItems(data.examples), tokenizer);
  return { ...result, exactMatch: task.exactMatch, tokenAccuracy: task.tokenAccuracy, scoredRows: task.rows };
}
