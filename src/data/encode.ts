/**
 * Turn one dataset row into an Example {ids, labels}: labels are aligned with ids (NOT shifted; the batcher
 * shifts) and -100 means "no loss here". Position 0 never has a label (nothing predicts it).
 *
 *  text               every token is a label; EOS is appended (unless opts.textEos is false).
 *  prompt_completion  BOS (if the tokenizer adds one) + prompt + completion + EOS; labels on completion + EOS.
 *  alpaca             the prompt below + output + EOS; labels on output + EOS.
 *  messages           the chat template's rendering; labels on each assistant turn (its content and the
 *                     template's end-of-turn tokens), not on the headers before it.
 *  tokens             input_ids as is; labels as given, or every token when absent.
 *
 * Neither the tokenizer nor the template returns offsets, so a prompt/completion boundary is found by
 * tokenizing the prompt alone and the whole text, and taking the longest common token prefix; a token that
 * straddles the boundary is counted as completion. Chat masks render the whole conversation once and locate
 * each assistant turn in that text (chat-turns.ts: from the end of its header to the end of the template's
 * end-of-turn text), then map those characters to tokens (token-offsets.ts); templates that render earlier turns
 * differently once later ones exist (Qwen3 drops earlier <think> blocks) work, and the cost stays linear in the
 * number of turns. A turn that cannot be located is an error naming the row, never a guessed mask. Training on
 * every token (trainOnAllMessages) needs no turn at all; located turns only get their missing EOS.
 *
 * EOS: every completion and assistant turn ends with a trained end token. A turn counts as ended if it ends
 * with a special token or stop id (e.g. </s>, <|im_end|>, <|eot_id|>; blank tokens after it are left
 * untrained) or holds a stop id (EOS or a generation_config eos id); otherwise EOS is inserted after it.
 */

import { isLoratuneError } from "../errors.ts";
import { previewJson } from "../io/preview.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { locateAssistantTurns, type TurnMarkers, turnMarkers } from "./chat-turns.ts";
import { type ChatMessage, dataError, type Row, type RowSource } from "./shapes.ts";
import { TokenizedText } from "./token-offsets.ts";

export interface Example {
  ids: number[];
  labels: number[];
}

export const IGNORE = -100;

export interface EncodeOptions {
  /** prompt_completion / alpaca: also train on the prompt (default false). */
  trainOnPrompt?: boolean;
  /** messages: train on every token, not only assistant turns (default false). */
  trainOnAllMessages?: boolean;
  /** text: append EOS (default true). */
  textEos?: boolean;
  /** tokens: ids must be below this (the model's vocabulary); default: the tokenizer's vocabulary size. */
  vocabSize?: number;
  /**
   * messages: the example will be cut to this many tokens, so assistant turns that start at or beyond it are
   * neither mapped to tokens nor refused when they cannot be located.
   */
  seqLen?: number;
}

/** What encodeRow did besides producing the example (for dataset stats). */
export interface EncodeInfo {
  eosInserted: number;
}

/** The name of the prompt format Alpaca rows are put in (DatasetFile.promptFormat). */
export const ALPACA_FORMAT_NAME = "Stanford Alpaca";

/** One line describing how Alpaca rows are trained, for help text and summaries. */
export const ALPACA_FORMAT_HELP =
  'Alpaca rows {"instruction","input"?,"output"} use the Stanford Alpaca prompt ("Below is an instruction that ' +
  'describes a task…", then "### Instruction:", "### Input:" when input is not empty, and "### Response:"), ' +
  "followed by the output; loss on the output and EOS";

/** The Stanford Alpaca prompt format (with and without an input), followed directly by the output. */
export const ALPACA_PROMPT_WITH_INPUT =
  "Below is an instruction that describes a task, paired with an input that provides further context. " +
  "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
export const ALPACA_PROMPT_NO_INPUT =
  "Below is an instruction that describes a task. " +
  "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n";

export function alpacaPrompt(instruction: string, input: string): string {
  const t = input.trim() === "" ? ALPACA_PROMPT_NO_INPUT : ALPACA_PROMPT_WITH_INPUT;
  // One pass, so an instruction that contains "{input}" is left as written.
  return t.replace(/\{(instruction|input)\}/g, (_, key: string) => (key === "instruction" ? instruction : input));
}

/**
 * Encode one row. `tok` may be null (a model directory without tokenizer.json): then only pre-tokenized
 * rows can be used.
 */
export function encodeRow(
  row: Row,
  tok: Tokenizer | null,
  opts: EncodeOptions,
  src: RowSource,
  info?: EncodeInfo,
): Example {
  if (row.shape === "tokens") return encodeTokens(row.inputIds, row.labels, opts.vocabSize ?? tok?.vocabSize, src);
  if (tok === null) {
    throw dataError(
      src,
      `rows of shape "${row.shape}" need a tokenizer, and there is none (no tokenizer.json); ` +
        'use pre-tokenized rows {"input_ids", "labels"?}',
    );
  }
  switch (row.shape) {
    case "text":
      return encodeText(row.text, tok, opts.textEos ?? true);
    case "prompt_completion":
      return encodePromptCompletion(row.prompt, row.completion, tok, opts.trainOnPrompt ?? false);
    case "alpaca":
      return encodePromptCompletion(
        alpacaPrompt(row.instruction, row.input),
        row.output,
        tok,
        opts.trainOnPrompt ?? false,
      );
    case "messages":
      return encodeMessages(row.messages, tok, opts.trainOnAllMessages ?? false, src, info, opts.seqLen);
  }
}

function encodeText(text: string, tok: Tokenizer, eos: boolean): Example {
  const ids = tok.encode(text, { eos: false });
  if ((eos || tok.addEos) && tok.eos) ids.push(tok.eos.id);
  const labels = ids.slice();
  if (labels.length > 0) labels[0] = IGNORE;
  return { ids, labels };
}

function encodePromptCompletion(prompt: string, completion: string, tok: Tokenizer, trainOnPrompt: boolean): Example {
  const head = tok.addBos && tok.bos ? [tok.bos.id] : [];
  const promptIds = [...head, ...tok.encodeText(prompt)];
  const ids = [...head, ...tok.encodeText(prompt + completion)];
  if (tok.eos) ids.push(tok.eos.id);
  const start = trainOnPrompt ? 1 : Math.max(1, commonPrefix(promptIds, ids));
  const labels = new Array<number>(ids.length).fill(IGNORE);
  for (let t = start; t < ids.length; t++) labels[t] = ids[t] as number;
  return { ids, labels };
}

function encodeTokens(
  inputIds: number[],
  labels: number[] | null,
  vocabSize: number | undefined,
  src: RowSource,
): Example {
  if (vocabSize !== undefined) {
    for (const [key, arr] of [
      ["input_ids", inputIds],
      ["labels", labels ?? []],
    ] as const) {
      const i = arr.findIndex((id) => id >= vocabSize);
      if (i >= 0) throw dataError(src, `${key}[${i}] = ${arr[i]} is outside the vocabulary [0, ${vocabSize})`);
    }
  }
  return { ids: inputIds.slice(), labels: (labels ?? inputIds).slice() };
}

/** Half-open token range [start, end) of one assistant turn in the full conversation's tokens. */
interface Span {
  start: number;
  end: number;
}

function encodeMessages(
  messages: ChatMessage[],
  tok: Tokenizer,
  trainOnAll: boolean,
  src: RowSource,
  info?: EncodeInfo,
  limit = Number.POSITIVE_INFINITY,
): Example {
  let full: number[];
  let spans: Span[];
  try {
    const text = new TokenizedText(tok, tok.applyChatTemplate(messages));
    full = text.ids;
    spans = assistantSpans(messages, text, tok, src, limit, trainOnAll);
  } catch (err) {
    if (isLoratuneError(err) && err.code === "ERR_TOKENIZER") throw dataError(src, err.message);
    throw err;
  }
  const ids: number[] = [];
  const labels: number[] = [];
  let t = 0;
  for (const span of spans) {
    const ended = endOfTurn(full, span, tok);
    for (; t < span.start; t++) push(ids, labels, full[t] as number, trainOnAll);
    for (; t < (ended ?? span.end); t++) push(ids, labels, full[t] as number, true);
    if (ended === null && tok.eos) {
      push(ids, labels, tok.eos.id, true);
      if (info) info.eosInserted++;
    }
    for (; t < span.end; t++) push(ids, labels, full[t] as number, trainOnAll);
  }
  for (; t < full.length; t++) push(ids, labels, full[t] as number, trainOnAll);
  if (labels.length > 0) labels[0] = IGNORE;
  return { ids, labels };
}

function push(ids: number[], labels: number[], id: number, trained: boolean): void {
  ids.push(id);
  labels.push(trained ? id : IGNORE);
}

/**
 * Token spans of the assistant turns, in order, non-overlapping; turns starting at or after token `limit` are
 * left out (truncation drops them). A turn that cannot be located is an error naming the row and the message,
 * unless `lenient` (training on every token: the spans only serve to insert missing EOS tokens), which keeps
 * the turns located before it.
 */
function assistantSpans(
  messages: ChatMessage[],
  text: TokenizedText,
  tok: Tokenizer,
  src: RowSource,
  limit: number,
  lenient: boolean,
): Span[] {
  let markers: TurnMarkers;
  try {
    markers = turnMarkers(tok);
  } catch (err) {
    if (lenient) return [];
    throw dataError(
      src,
      "cannot find the assistant header and end-of-turn text of the chat template, because rendering a probe " +
        `conversation failed: ${(err as Error).message}`,
    );
  }
  const located = locateAssistantTurns(text.text, messages, markers);
  const spans: Span[] = [];
  let prevEnd = 0;
  for (const turn of located.spans) {
    const start = Math.max(prevEnd, text.position(turn.start).before);
    if (start >= limit) return spans;
    const end = Math.max(start, text.tokensCovering(turn.end));
    spans.push({ start, end });
    prevEnd = end;
  }
  const miss = located.notFound;
  if (miss !== null && !lenient && text.position(miss.from).before < limit) {
    const content = (messages[miss.message] as ChatMessage).content;
    throw dataError(
      src,
      `cannot locate message ${miss.message} (assistant, ${previewJson(content)}) in the chat template's ` +
        `rendering of the conversation: ${miss.reason}. The template changes assistant messages in a way ` +
        "loratune cannot follow; train on all tokens (--train-on-prompt) or use another chat template",
    );
  }
  return spans;
}

/**
 * Where an assistant turn's labels end, or null when the turn has no end token. The turn has ended when its
 * last non-blank token is a special token or stop id (labels stop right after it: a "\n" the template puts
 * after <|im_end|> is not trained), or when it holds a stop id anywhere.
 */
function endOfTurn(full: number[], span: Span, tok: Tokenizer): number | null {
  for (let t = span.end - 1; t >= span.start; t--) {
    const id = full[t] as number;
    if (tok.isSpecial(id) || tok.stopIds.includes(id)) return t + 1;
    if (tok.decode([id]).trim() !== "") break;
  }
  for (let t = span.start; t < span.end; t++) if (tok.stopIds.includes(full[t] as number)) return span.end;
  return null;
}

/** Length of the longest common prefix of two token sequences. */
export function commonPrefix(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
