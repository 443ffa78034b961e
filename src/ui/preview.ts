/**
 * The data preview of the New run page: the rows encoded exactly as `train` encodes them (src/data: the shape
 * detected per file, the chat template applied, loss masks), each shown as runs of trained and masked text; the
 * histogram of example lengths in tokens; and how many rows `--seq-len` truncates.
 */

import { baseHasTokenizer, loadBaseTokenizer, readBaseConfig } from "../api/model-source.ts";
import { trainOption } from "../api/train-options.ts";
import { runText } from "../data/check.ts";
import { readDataset } from "../data/dataset.ts";
import type { Example } from "../data/encode.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** Rows read for the preview at most (the histogram and the counts cover these). */
export const PREVIEW_ROWS = 2000;
/** Rows rendered token by token. */
export const RENDERED_ROWS = 5;
export const HISTOGRAM_BINS = 12;

/** A stretch of consecutive tokens that are all trained (carry loss) or all masked. */
export interface TokenRun {
  text: string;
  trained: boolean;
  tokens: number;
}

export interface DataPreview {
  files: { path: string; shape: string; rows: number }[];
  rowsRead: number;
  /** Examples longer than seq-len (cut by train). */
  truncated: number;
  /** Examples left with no trained token (train drops them). */
  droppedNoLabels: number;
  seqLen: number;
  /** Length histogram: bins of [lo, hi) tokens, the last one closed. */
  histogram: { lo: number; hi: number; count: number }[];
  /** The first rows, as train sees them after truncation. */
  rows: { tokens: number; cut: number; runs: TokenRun[] }[];
}

/** Previews `data` (comma-separated JSONL paths) for `model`; `o` carries seq-len and train-on-prompt. */
export function previewData(model: string, data: string, o: Record<string, unknown>): DataPreview {
  const seqLen = typeof o["seq-len"] === "number" ? o["seq-len"] : (trainOption("seq-len")!.default as number);
  const trainOnPrompt = o["train-on-prompt"] === true;
  const tok = baseHasTokenizer(model) ? loadBaseTokenizer(model) : null;
  const vocabSize = readBaseConfig(model).vocabSize;
  const files = data.split(",");
  const full = readDataset(files, tok, {
    trainOnPrompt,
    trainOnAllMessages: trainOnPrompt,
    vocabSize,
    maxRows: PREVIEW_ROWS,
    allowNoLabels: true,
  });
  const lengths = full.examples.map((e) => e.ids.length);
  return {
    files: full.files.map((f) => ({ path: f.path, shape: f.shape, rows: f.rows })),
    rowsRead: full.stats.rows,
    truncated: lengths.filter((n) => n > seqLen).length,
    droppedNoLabels: full.stats.droppedNoLabels,
    seqLen,
    histogram: histogram(lengths, HISTOGRAM_BINS),
    rows: full.examples.slice(0, RENDERED_ROWS).map((ex) => ({
      tokens: Math.min(ex.ids.length, seqLen),
      cut: Math.max(0, ex.ids.length - seqLen),
      runs: tokenRuns(ex, seqLen, tok),
    })),
  };
}

/** Equal-width bins over [min, max] of the lengths. */
export function histogram(lengths: number[], bins: number): DataPreview["histogram"] {
  if (lengths.length === 0) return [];
  const lo = Math.min(...lengths);
  const hi = Math.max(...lengths);
  const width = Math.max(1, Math.ceil((hi - lo + 1) / bins));
  const out = Array.from({ length: Math.ceil((hi - lo + 1) / width) }, (_, i) => ({
    lo: lo + i * width,
    hi: lo + (i + 1) * width,
    count: 0,
  }));
  for (const n of lengths) out[Math.floor((n - lo) / width)]!.count++;
  return out;
}

/**
 * The example's first `seqLen` tokens as runs of trained / masked text. Position t is trained when its label is
 * not -100 and t > 0 (nothing predicts the first token), as data/check.ts's formatExample shows it.
 */
export function tokenRuns(ex: Example, seqLen: number, tok: Tokenizer | null): TokenRun[] {
  const n = Math.min(ex.ids.length, seqLen);
  const trained = (t: number) => t > 0 && ex.labels[t] !== -100;
  const runs: TokenRun[] = [];
  let t = 0;
  while (t < n) {
    let end = t + 1;
    while (end < n && trained(end) === trained(t)) end++;
    runs.push({ text: runText(ex.ids, t, end, tok), trained: trained(t), tokens: end - t });
    t = end;
  }
  return runs;
}
