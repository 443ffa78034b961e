/**
 * The task metric (`--metric exact-match`): held-out exact match and token-level accuracy of greedy completions,
 * computed in-process with the KV cache. One implementation serves `eval`, the trainer's evaluations, sweeps and
 * the demo.
 *
 * An example's prompt is every token before its first label; its reference is the first run of labelled tokens
 * (the completion, or the first assistant turn with its end-of-turn token). The model completes the prompt
 * greedily, stopping at a stop id or after the reference's length plus MARGIN tokens.
 *  - exact match: the decoded prediction (special tokens skipped), cut to as many lines as the reference has,
 *    equals the decoded reference after trailing whitespace is removed from both (nothing else is normalized);
 *    without a tokenizer, the predicted ids start with the reference's (which ends with its stop token, if any).
 *  - token accuracy: the share of reference tokens the prediction has at the same position (a prediction that
 *    stops early misses the rest), over all rows' reference tokens.
 * Only rows with a prompt can be scored: prompt/completion, Alpaca and chat rows, not {"text"} rows or training
 * on the prompt (checkTaskMetricData says so before anything runs).
 */
import type { Example } from "../data/encode.ts";
import type { RowShape } from "../data/shapes.ts";
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import { generateTokens } from "../model/generate.ts";
import type { Model } from "../model/model.ts";

/** What evaluations score: the validation loss only, or also the task metric. */
export const TASK_METRICS = ["loss", "exact-match"] as const;
export type TaskMetric = (typeof TASK_METRICS)[number];

/** Tokens generated past the reference's length, so a prediction that does not stop is seen to go on. */
const MARGIN = 8;

/** One scorable row: the prompt's ids and the reference completion's ids. */
export interface TaskItem {
  prompt: number[];
  reference: number[];
}

/** How texts are made from ids (a Tokenizer fits); without one, ids are compared. */
export interface TaskDecoder {
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string;
  readonly stopIds: number[];
}

export interface TaskScore {
  /** Share of rows whose prediction matches the reference exactly (see the header). */
  exactMatch: number;
  /** Share of reference tokens predicted at their position. */
  tokenAccuracy: number;
  /** Rows scored. */
  rows: number;
  /** Each row's prediction as compared (text cut to the reference's lines, or ids joined by spaces). */
  predictions: string[];
  /** The first EVAL_SAMPLES rows as text, for people to read (metrics.jsonl's eval rows, the UI). */
  samples: EvalSample[];
}

/** One validation prompt with the completion the model generated at an evaluation, and the reference. */
export interface EvalSample {
  prompt: string;
  prediction: string;
  reference: string;
}

/** Rows of each evaluation kept as samples. */
export const EVAL_SAMPLES = 3;

/** Shapes whose rows have a prompt to complete. */
const PROMPTED: readonly RowShape[] = ["prompt_completion", "alpaca", "messages", "sharegpt"];

/** Refuses data the task metric cannot score, naming the file and its shape (or --train-on-prompt). */
export function checkTaskMetricData(files: { path: string; shape: RowShape }[], trainOnPrompt: boolean): void {
  const bad = files.find((f) => !PROMPTED.includes(f.shape));
  if (bad) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--metric exact-match completes prompts, but ${bad.path} holds "${bad.shape}" rows, which have none; ` +
        "use prompt/completion, Alpaca or chat rows (or --metric loss)",
    );
  }
  if (trainOnPrompt) {
    throw new LoratuneError(
      "ERR_USAGE",
      "--metric exact-match needs the prompt/completion boundary, which --train-on-prompt removes from the labels; drop one of them",
    );
  }
}

/** The scorable rows of the examples: each one's prompt and first run of labelled tokens. */
export function taskItems(examples: readonly Example[]): TaskItem[] {
  const items: TaskItem[] = [];
  for (const ex of examples) {
    const first = ex.labels.findIndex((l) => l >= 0);
    if (first < 1) continue;
    let end = first;
    while (end < ex.labels.length && ex.labels[end]! >= 0) end++;
    items.push({ prompt: ex.ids.slice(0, first), reference: ex.ids.slice(first, end) });
  }
  return items;
}

/** Exact match after removing trailing whitespace from both sides (nothing else is normalized). */
export function exactMatch(predicted: string, expected: string): boolean {
  return predicted.trimEnd() === expected.trimEnd();
}

/** The prediction cut to as many lines as the reference has (a model may go on after its answer). */
export function cutToLines(predicted: string, reference: string): string {
  const lines = reference.trimEnd().split("\n").length;
  return predicted.split("\n").slice(0, lines).join("\n");
}

/** Position-wise matches of the prediction against the reference ids. */
function tokenHits(predicted: readonly number[], reference: readonly number[]): number {
  let hits = 0;
  for (let i = 0; i < reference.length; i++) if (predicted[i] === reference[i]) hits++;
  return hits;
}

/**
 * Greedy completions of every item, scored (see the header). `onRow` is called after each row (progress);
 * a model whose context cannot hold a prompt and its reference is an error from generation, naming the sizes.
 */
export function scoreCompletions(
  k: Kernels,
  model: Model,
  items: readonly TaskItem[],
  decoder: TaskDecoder | null,
  onRow?: (done: number) => void,
): TaskScore {
  let exact = 0;
  let hits = 0;
  let refTokens = 0;
  const predictions: string[] = [];
  for (const [i, item] of items.entries()) {
    const room = model.positions - item.prompt.length;
    const r = generateTokens(k, model, item.prompt, {
      maxTokens: Math.max(1, Math.min(room, item.reference.length + MARGIN)),
      stopIds: decoder?.stopIds ?? model.config.eosTokenIds,
    });
    hits += tokenHits(r.ids, item.reference);
    refTokens += item.reference.length;
    if (decoder) {
      const want = decoder.decode(item.reference, { skipSpecialTokens: true });
      const got = cutToLines(decoder.decode(r.ids, { skipSpecialTokens: true }), want);
      predictions.push(got);
      if (exactMatch(got, want)) exact++;
    } else {
      predictions.push(r.ids.join(" "));
      if (tokenHits(r.ids, item.reference) === item.reference.length) exact++;
    }
    onRow?.(i + 1);
  }
  const n = items.length;
  return {
    exactMatch: n > 0 ? exact / n : 0,
    tokenAccuracy: refTokens > 0 ? hits / refTokens : 0,
    rows: n,
    predictions,
    samples: items.slice(0, EVAL_SAMPLES).map((item, i) => ({
      prompt: decoder ? decoder.decode(item.prompt, { skipSpecialTokens: true }) : item.prompt.join(" "),
      prediction: predictions[i]!,
      reference: decoder ? decoder.decode(item.reference, { skipSpecialTokens: true }) : item.reference.join(" "),
    })),
  };
}
