/**
 * Read dataset file(s), JSONL or Parquet (data/rows.ts), into Examples: detect each file's row shape from its first row (reported to
 * `onShape` before the file is encoded), check every row against it, encode with loss masks, truncate to
 * seqLen, drop rows left with no label token, and count. Each file is read once, front to back.
 * Refuses (ERR_DATA) a dataset where no token at all carries loss, showing why and a rendered sample.
 * The result also says, per file, which shape was detected and how many rows were read (Dataset.files), for
 * the training summary.
 */
import { LoratuneError } from "../errors.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { assertHasLabels } from "./check.ts";
import { expandDataPaths } from "./dataset-folder.ts";
import { ALPACA_FORMAT_NAME, type EncodeInfo, type EncodeOptions, type Example } from "./encode.ts";
import { readDataRows } from "./rows.ts";
import { detectShape, parseRow, type RowShape } from "./shapes.ts";
import { trainExample } from "./train-example.ts";

export interface ReadDatasetOptions extends EncodeOptions {
  /** Truncate examples to this many tokens (counted in stats.truncated). */
  seqLen?: number;
  /** Stop after this many rows in total (for quick runs and previews). */
  maxRows?: number;
  /** Do not refuse a dataset without any label token (e.g. for previews). Default false. */
  allowNoLabels?: boolean;
  /**
   * Called with each file's shape as soon as it is detected from the file's first row, before any row of the
   * file is encoded: a check that depends on the shape (a chat template for "messages" rows) can refuse the
   * data before encoding would fail, without the file being opened twice.
   */
  onShape?: (file: string, shape: RowShape) => void;
}

export interface DatasetStats {
  /** Rows read (non-blank lines). */
  rows: number;
  /** Tokens in the kept examples, after truncation. */
  tokens: number;
  /** Examples cut to seqLen. */
  truncated: number;
  /** Positions with a next-token target (label != -100 at t >= 1) in the kept examples. */
  labelTokens: number;
  /** Rows dropped because no label token was left (e.g. the completion was truncated away). */
  droppedNoLabels: number;
  /** Assistant turns after which an EOS was inserted because the template did not end them with one. */
  eosInserted: number;
  /** The detected shape of each file. */
  shapes: Record<string, RowShape>;
}

/** What one data file turned out to be. */
export interface DatasetFile {
  /** The path as given to readDataset. */
  path: string;
  /**
   * The row shape detected from the file's first row: "text", "prompt_completion", "messages", "sharegpt"
   * (ShareGPT {"conversations"} rows, read as messages), "alpaca" or "tokens".
   */
  shape: RowShape;
  /** Rows read from the file (non-blank lines; stops early at maxRows), including rows later dropped. */
  rows: number;
  /** Alpaca files only: the prompt format the rows are put in (ALPACA_FORMAT_NAME, "Stanford Alpaca"). */
  promptFormat?: string;
}

export interface Dataset {
  examples: Example[];
  stats: DatasetStats;
  /**
   * One entry per file read, in the order given (files not reached because of maxRows are left out). Always set
   * by readDataset; optional so that datasets derived from one (e.g. a validation split) may leave it out.
   */
  files?: DatasetFile[];
}

/**
 * `paths`: JSONL or Parquet files, or dataset folders in the Hugging Face layout (their train split;
 * data/dataset-folder.ts). `tok` may be null when the model has no tokenizer.json: then only pre-tokenized rows
 * are accepted.
 */
export function readDataset(
  paths: string | string[],
  tok: Tokenizer | null,
  opts: ReadDatasetOptions = {},
): Dataset & { files: DatasetFile[] } {
  const files = expandDataPaths(Array.isArray(paths) ? paths : [paths]);
  if (files.length === 0) throw new LoratuneError("ERR_USAGE", "no dataset file given");
  const stats: DatasetStats = {
    rows: 0,
    tokens: 0,
    truncated: 0,
    labelTokens: 0,
    droppedNoLabels: 0,
    eosInserted: 0,
    shapes: {},
  };
  const examples: Example[] = [];
  const fileInfo: DatasetFile[] = [];
  const info: EncodeInfo = { eosInserted: 0 };
  let sample: Example | null = null;
  for (const file of files) {
    if (opts.maxRows !== undefined && stats.rows >= opts.maxRows) break;
    let shape: RowShape | null = null;
    let shapeLine = 0;
    let entry: DatasetFile | null = null;
    for (const { line, value, at } of readDataRows(file)) {
      if (opts.maxRows !== undefined && stats.rows >= opts.maxRows) break;
      const src = { file, line, at };
      if (shape === null) {
        shape = detectShape(value, src);
        opts.onShape?.(file, shape);
        shapeLine = line;
        stats.shapes[file] = shape;
        entry = { path: file, shape, rows: 0, ...(shape === "alpaca" ? { promptFormat: ALPACA_FORMAT_NAME } : {}) };
        fileInfo.push(entry);
      }
      const row = parseRow(value, shape, shapeLine, src);
      stats.rows++;
      if (entry) entry.rows++;
      const { example: ex, truncated, labelTokens: n } = trainExample(row, tok, opts, src, info);
      if (truncated) stats.truncated++;
      sample ??= ex;
      if (n === 0) {
        stats.droppedNoLabels++;
        continue;
      }
      stats.labelTokens += n;
      stats.tokens += ex.ids.length;
      examples.push(ex);
    }
    if (shape === null) throw new LoratuneError("ERR_DATA", `${file}: the dataset file has no rows`);
  }
  stats.eosInserted = info.eosInserted;
  if (!opts.allowNoLabels) {
    assertHasLabels(stats.labelTokens, Object.values(stats.shapes), sample, tok, files.join(", "), opts.seqLen);
  }
  return { examples, stats, files: fileInfo };
}
