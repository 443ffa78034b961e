/**
 * Human-readable views of encoded examples, and the refusal of a dataset in which no token carries loss
 * (training on it would divide by zero label tokens, or silently learn nothing).
 */
import { LoratuneError } from "../errors.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Example } from "./encode.ts";
import type { RowShape } from "./shapes.ts";

/**
 * Render an example as runs of masked and trained tokens, one run per line:
 *   masked | "<s>[INST] hi [/INST]"
 *   LOSS   | " hello</s>"
 * A position is trained when its label is not -100 and it is not position 0 (which nothing predicts).
 * Without a tokenizer the runs show token ids.
 */
export function formatExample(ex: Example, tok: Tokenizer | null, maxChars = 800): string {
  const lines: string[] = [];
  let used = 0;
  let t = 0;
  while (t < ex.ids.length && used < maxChars) {
    const trained = isTrained(ex, t);
    let end = t + 1;
    while (end < ex.ids.length && isTrained(ex, end) === trained) end++;
    const raw = runText(ex.ids, t, end, tok);
    let text = tok ? JSON.stringify(raw) : raw;
    if (used + text.length > maxChars) text = `${text.slice(0, Math.max(0, maxChars - used))}…`;
    used += text.length;
    lines.push(`${trained ? "LOSS  " : "masked"} | ${text}`);
    t = end;
  }
  if (t < ex.ids.length) lines.push(`… (${ex.ids.length - t} more tokens)`);
  return lines.join("\n");
}

/**
 * Text of tokens [t, end) as it reads inside the whole sequence: decoding a run alone would let the decoder
 * strip a leading space (SentencePiece) or break a character whose bytes span two runs.
 */
export function runText(ids: number[], t: number, end: number, tok: Tokenizer | null): string {
  if (tok === null) return ids.slice(t, end).join(" ");
  const before = tok.decode(ids.slice(0, t));
  const upTo = tok.decode(ids.slice(0, end));
  return upTo.startsWith(before) ? upTo.slice(before.length) : tok.decode(ids.slice(t, end));
}

function isTrained(ex: Example, t: number): boolean {
  return t > 0 && ex.labels[t] !== -100;
}

const WHY: Record<RowShape, string> = {
  text: "every text is empty or a single token",
  prompt_completion:
    "every completion was cut off: the prompts are at least as long as the sequence length, so truncation " +
    "removed all completion tokens",
  alpaca:
    "every output was cut off: the Alpaca prompts are at least as long as the sequence length, so truncation " +
    "removed all output tokens",
  messages:
    'no assistant turn carries loss: the rows have no message with role "assistant", or the assistant turns ' +
    "were cut off by truncation to the sequence length",
  sharegpt:
    'no assistant turn carries loss: the conversations have no turn from "gpt" (or "assistant"), or those turns ' +
    "were cut off by truncation to the sequence length",
  tokens: 'every "labels" entry is -100 (or each row has a single token)',
};

/** Throw ERR_DATA, with an explanation and a rendered sample, when no example has a label token. */
export function assertHasLabels(
  labelTokens: number,
  shapes: RowShape[],
  sample: Example | null,
  tok: Tokenizer | null,
  where: string,
  seqLen: number | undefined,
): void {
  if (labelTokens > 0) return;
  const reasons = [...new Set(shapes)].map((s) => `- ${s}: ${WHY[s]}`).join("\n");
  const len = seqLen === undefined ? "" : ` (sequence length ${seqLen})`;
  const shown = sample ? `\nFirst example as encoded${len}:\n${formatExample(sample, tok)}` : "";
  throw new LoratuneError(
    "ERR_DATA",
    `${where}: no token in the dataset carries loss, so there is nothing to train on.\n${reasons}${shown}`,
  );
}
