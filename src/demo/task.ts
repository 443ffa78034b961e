/**
 * The demo's downstream task: fill a fixed four-field card from a sentence, scored by exact match.
 *
 *   prompt:     "Sentence: Mira the baker lives in Oakford and owns a red kettle.\nCard:\n"
 *   completion: "name: Mira, job: baker, town: Oakford, item: kettle"
 *
 * The sentence uses one of the five card templates of world.ts (several word orders: the item may come first,
 * the job may follow the name or precede it), so the model must find each span by its kind, then copy it into
 * the fixed template. The answer format is exactly: keys name, job, town, item in that order, each followed by
 * ": " and its value, fields separated by ", ", on one line; `formatAnswer` writes it and `parseAnswer` accepts
 * only it. Every value keeps the leading space it has in the sentence, so copying a word copies its token. The item
 * is the object's noun without its color (the color is the one span a small model learns to copy slowest).
 * Neither the answer format nor the "Sentence:"/"Card:" prompt ever appears in the corpus (no colons there, and
 * never the words "job" or "item"), so a base model pretrained on it scores 0% before fine-tuning. No arithmetic,
 * no reasoning: span copying is what attention learns quickly, which a LoRA on a small model picks up in a few
 * hundred steps.
 *
 * Split: one seeded stream of rows, deduplicated by prompt; the first `testSize` distinct rows are the held-out
 * test set, the next `trainSize` the train set, so they are disjoint and the test set does not change when only
 * the train size does.
 *
 * Nothing here touches the file system (the browser page draws the task too); task-files.ts writes it as JSONL.
 */
import { encodeRow } from "../data/encode.ts";
import { LoratuneError } from "../errors.ts";
import type { Rng } from "../tensor/rng.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { exactMatch, type TaskItem, taskItems } from "../train/task-metric.ts";
import { CARD_TEMPLATES, demoRng, drawPerson, pick } from "./world.ts";

/** The four fields of an answer. */
export interface CardFields {
  name: string;
  job: string;
  town: string;
  item: string;
}

/** A row for `{"prompt","completion"}` JSONL (loss on the completion). */
export interface PromptRow {
  prompt: string;
  completion: string;
}

/** A row for `{"messages"}` JSONL: one user turn (prompt without its trailing newline), one assistant turn. */
export interface ChatRow {
  messages: [{ role: "user"; content: string }, { role: "assistant"; content: string }];
}

export interface TaskOptions {
  seed: number;
  /** Training rows (default 4000). */
  trainSize?: number;
  /** Held-out test rows (default 200). */
  testSize?: number;
  /** Card template ids of world.ts to draw from (default: all); a narrower set makes the task easier. */
  templates?: readonly number[];
}

export interface TaskSplit {
  train: PromptRow[];
  test: PromptRow[];
}

const FIELD_ORDER = ["name", "job", "town", "item"] as const;

/** The prompt for a sentence. */
export function taskPrompt(sentence: string): string {
  return `Sentence: ${sentence}\nCard:\n`;
}

/** The canonical answer line for the fields. */
export function formatAnswer(f: CardFields): string {
  return FIELD_ORDER.map((k) => `${k}: ${f[k]}`).join(", ");
}

const ANSWER = /^name: ([A-Za-z]+), job: ([a-z]+), town: ([A-Za-z]+), item: ([a-z]+)$/;

/** The fields of a canonical answer line, or null when `text` is anything else (other spacing, order, keys). */
export function parseAnswer(text: string): CardFields | null {
  const m = ANSWER.exec(text);
  if (!m) return null;
  return { name: m[1]!, job: m[2]!, town: m[3]!, item: m[4]! };
}

/** One task row drawn from the rng, using one of the given template ids. */
export function drawTaskRow(rng: Rng, templates: readonly number[]): PromptRow {
  const p = drawPerson(rng);
  const template = CARD_TEMPLATES[pick(rng, templates)]!;
  return {
    prompt: taskPrompt(template(p)),
    completion: formatAnswer({ name: p.name, job: p.job, town: p.town, item: p.object.one }),
  };
}

function checkSize(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new LoratuneError("ERR_USAGE", `demo task ${what} must be >= 0, got ${n}`);
  return n;
}

/** The seeded, disjoint train/test split (see the header for how it is drawn). */
export function generateTask(opts: TaskOptions): TaskSplit {
  const trainSize = checkSize("trainSize", opts.trainSize ?? 4000);
  const testSize = checkSize("testSize", opts.testSize ?? 200);
  const templates = opts.templates ?? CARD_TEMPLATES.map((_, i) => i);
  if (templates.length === 0 || templates.some((t) => CARD_TEMPLATES[t] === undefined)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `demo task templates must be ids in 0..${CARD_TEMPLATES.length - 1}, got [${templates.join(", ")}]`,
    );
  }
  const rng = demoRng(opts.seed, "task");
  const seen = new Set<string>();
  const split: TaskSplit = { train: [], test: [] };
  while (split.test.length + split.train.length < testSize + trainSize) {
    const row = drawTaskRow(rng, templates);
    if (seen.has(row.prompt)) continue;
    seen.add(row.prompt);
    (split.test.length < testSize ? split.test : split.train).push(row);
  }
  return split;
}

/** The chat form of a prompt row. */
export function toChatRow(row: PromptRow): ChatRow {
  return {
    messages: [
      { role: "user", content: row.prompt.replace(/\n$/, "") },
      { role: "assistant", content: row.completion },
    ],
  };
}

export { exactMatch };

export type RowFormat = "prompt-completion" | "messages";

/** Rows as JSONL text (one per line, each ending in a newline): train.jsonl and test.jsonl as they are written. */
export function taskJsonl(rows: readonly PromptRow[], format: RowFormat = "prompt-completion"): string {
  let s = "";
  for (const r of rows) s += `${JSON.stringify(format === "messages" ? toChatRow(r) : r)}\n`;
  return s;
}

/** The rows as the task metric scores them (train/task-metric.ts): encoded as train and eval encode them. */
export function demoTaskItems(tok: Tokenizer, rows: readonly PromptRow[]): TaskItem[] {
  const src = { file: "demo task", line: 0 };
  return taskItems(rows.map((r) => encodeRow({ shape: "prompt_completion", ...r }, tok, {}, src)));
}

export interface ExactMatchScore {
  correct: number;
  total: number;
  /** correct / total, or 0 when there are no rows. */
  accuracy: number;
}

/** Exact-match score of predictions against references, pairwise. */
export function scoreExactMatch(preds: readonly string[], refs: readonly string[]): ExactMatchScore {
  if (preds.length !== refs.length) {
    throw new LoratuneError(
      "ERR_DATA",
      `exact match needs one prediction per reference: got ${preds.length} predictions for ${refs.length} references`,
    );
  }
  let correct = 0;
  for (let i = 0; i < preds.length; i++) if (exactMatch(preds[i]!, refs[i]!)) correct++;
  return { correct, total: refs.length, accuracy: refs.length === 0 ? 0 : correct / refs.length };
}

/** Per-field accuracy: a field counts when the prediction parses and has that field's exact value. */
export function fieldAccuracy(predictions: readonly string[], rows: readonly PromptRow[]): Record<string, number> {
  const keys = ["name", "job", "town", "item"] as const;
  const hits = { name: 0, job: 0, town: 0, item: 0 };
  predictions.forEach((p, i) => {
    const got = parseAnswer(p);
    const want = parseAnswer(rows[i]!.completion)!;
    for (const k of keys) if (got?.[k] === want[k]) hits[k]++;
  });
  return Object.fromEntries(keys.map((k) => [k, hits[k] / Math.max(1, rows.length)]));
}
