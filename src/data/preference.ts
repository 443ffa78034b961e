/**
 * Preference data (`--method dpo|ipo|orpo`): JSONL rows of one prompt with a chosen and a rejected completion,
 * each pair encoded into two Examples whose labels cover the completion only (prompt tokens never count).
 *
 *   text pairs  {"prompt": string, "chosen": string, "rejected": string}
 *               each side encoded as a {"prompt","completion"} row: BOS (if the tokenizer adds one) + prompt +
 *               completion + EOS, labels on the completion and EOS.
 *   chat pairs  {"prompt": [messages], "chosen": [assistant messages] | string, "rejected": ...}
 *               (TRL's conversational format) or, without "prompt", {"chosen": [messages], "rejected": [messages]}
 *               whose shared leading messages are the prompt (TRL's implicit prompt). Each side is the prompt's
 *               messages followed by its own, rendered with the chat template and masked as chat rows are (labels
 *               on assistant turns, end-of-turn token included); then every token of the prompt rendered with
 *               the generation prompt is unlabelled, so an assistant turn inside the prompt never counts.
 * Both sides are truncated to seqLen (the start is kept); a pair where either side has no label token left is
 * dropped and counted. Errors name file:line.
 */
import { LoratuneError } from "../errors.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { countTargets, truncateExample } from "./batch.ts";
import { expandDataPaths } from "./dataset-folder.ts";
import { commonPrefix, type Example, encodeRow, IGNORE } from "./encode.ts";
import { readDataRows } from "./rows.ts";
import { type ChatMessage, dataError, parseRow, type RowSource, rowPlace } from "./shapes.ts";
import { TokenizedText } from "./token-offsets.ts";

/** One preference pair: two full sequences (prompt + completion) with labels on their completions. */
export interface PreferencePair {
  chosen: Example;
  rejected: Example;
}

export interface PreferenceStats {
  rows: number;
  /** Pairs with a side cut to seqLen. */
  truncated: number;
  /** Pairs dropped because a side had no completion token left after truncation. */
  dropped: number;
  /** Tokens and completion (label) tokens of the kept pairs, both sides. */
  tokens: number;
  labelTokens: number;
  /** "text" or "chat" per file. */
  shapes: Record<string, "text" | "chat">;
  /** Rows read per file. */
  fileRows: Record<string, number>;
}

export interface PreferenceDataset {
  pairs: PreferencePair[];
  stats: PreferenceStats;
}

export const PREFERENCE_SHAPE_HELP =
  'preference rows are {"prompt","chosen","rejected"} with strings, or chat pairs with "prompt" a list of ' +
  'messages and "chosen"/"rejected" assistant messages (or strings), or {"chosen","rejected"} conversations ' +
  "that share their leading messages";

/** Reads preference pairs from JSONL or Parquet file(s) or dataset folders; `tok` is required (rows are text). */
export function readPreferenceDataset(
  paths: string[],
  tok: Tokenizer,
  opts: { seqLen: number; maxRows?: number },
): PreferenceDataset {
  const stats: PreferenceStats = {
    rows: 0,
    truncated: 0,
    dropped: 0,
    tokens: 0,
    labelTokens: 0,
    shapes: {},
    fileRows: {},
  };
  const pairs: PreferencePair[] = [];
  for (const file of expandDataPaths(paths)) {
    for (const { line, value, at } of readDataRows(file)) {
      if (opts.maxRows !== undefined && stats.rows >= opts.maxRows) break;
      const src = { file, line, at };
      const { pair, chat } = encodePair(value, tok, src);
      stats.shapes[file] ??= chat ? "chat" : "text";
      stats.rows++;
      stats.fileRows[file] = (stats.fileRows[file] ?? 0) + 1;
      const c = truncateExample(pair.chosen, opts.seqLen);
      const r = truncateExample(pair.rejected, opts.seqLen);
      if (c.truncated || r.truncated) stats.truncated++;
      const nc = countTargets(c.example);
      const nr = countTargets(r.example);
      if (nc === 0 || nr === 0) {
        stats.dropped++;
        continue;
      }
      stats.labelTokens += nc + nr;
      stats.tokens += c.example.ids.length + r.example.ids.length;
      pairs.push({ chosen: c.example, rejected: r.example });
    }
    if (stats.shapes[file] === undefined) throw new LoratuneError("ERR_DATA", `${file}: the dataset file has no rows`);
  }
  if (pairs.length === 0) {
    throw new LoratuneError(
      "ERR_DATA",
      `${paths.join(", ")}: no preference pair has a completion token left within --seq-len ${opts.seqLen} ` +
        `(${stats.dropped} of ${stats.rows} dropped); raise --seq-len or shorten the prompts`,
    );
  }
  return { pairs, stats };
}

/** One row as a pair of Examples; `chat` says which format it had. */
export function encodePair(value: unknown, tok: Tokenizer, src: RowSource): { pair: PreferencePair; chat: boolean } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw dataError(src, `row is not a JSON object; ${PREFERENCE_SHAPE_HELP}`);
  }
  const row = value as Record<string, unknown>;
  for (const key of ["chosen", "rejected"]) {
    if (!(key in row)) throw dataError(src, `row has no "${key}"; ${PREFERENCE_SHAPE_HELP}`);
  }
  if (typeof row.prompt === "string") {
    const side = (key: string): Example => {
      const completion = row[key];
      if (typeof completion !== "string") {
        throw dataError(src, `"prompt" is a string, so "${key}" must be one too, got ${typeof completion}`);
      }
      return encodeRow({ shape: "prompt_completion", prompt: row.prompt as string, completion }, tok, {}, src);
    };
    return { pair: { chosen: side("chosen"), rejected: side("rejected") }, chat: false };
  }
  const { prompt, chosen, rejected } = chatSides(row, src);
  return {
    pair: { chosen: encodeChat(prompt, chosen, tok, src), rejected: encodeChat(prompt, rejected, tok, src) },
    chat: true,
  };
}

/** The prompt messages and each side's messages of a chat pair. */
function chatSides(row: Record<string, unknown>, src: RowSource) {
  const msgs = (v: unknown, key: string): ChatMessage[] => {
    if (typeof v === "string") return [{ role: "assistant", content: v }];
    try {
      return (parseRow({ messages: v }, "messages", src.line, src) as { messages: ChatMessage[] }).messages;
    } catch (err) {
      throw dataError(src, `"${key}": ${(err as Error).message.replace(`${rowPlace(src)}: `, "")}`);
    }
  };
  if (row.prompt !== undefined) {
    return {
      prompt: msgs(row.prompt, "prompt"),
      chosen: msgs(row.chosen, "chosen"),
      rejected: msgs(row.rejected, "rejected"),
    };
  }
  const chosen = msgs(row.chosen, "chosen");
  const rejected = msgs(row.rejected, "rejected");
  let n = 0;
  while (n < chosen.length && n < rejected.length && sameMessage(chosen[n]!, rejected[n]!)) n++;
  if (n === 0 || n === chosen.length || n === rejected.length) {
    throw dataError(
      src,
      'without "prompt", "chosen" and "rejected" must share their leading messages (the prompt) and differ after them',
    );
  }
  return { prompt: chosen.slice(0, n), chosen: chosen.slice(n), rejected: rejected.slice(n) };
}

const sameMessage = (a: ChatMessage, b: ChatMessage) => a.role === b.role && a.content === b.content;

/** prompt + side rendered with the chat template; labels on the side's assistant turns only. */
function encodeChat(prompt: ChatMessage[], side: ChatMessage[], tok: Tokenizer, src: RowSource): Example {
  if (!side.some((m) => m.role === "assistant")) {
    throw dataError(src, "a chat pair's chosen and rejected sides must each hold an assistant message");
  }
  const ex = encodeRow({ shape: "messages", messages: [...prompt, ...side] }, tok, {}, src);
  const promptIds = new TokenizedText(tok, tok.applyChatTemplate(prompt, { addGenerationPrompt: true })).ids;
  const promptLen = commonPrefix(promptIds, ex.ids);
  const labels = ex.labels.slice();
  labels.fill(IGNORE, 0, promptLen);
  return { ids: ex.ids, labels };
}
