/**
 * The data of an exported job: each training (and validation) file, JSONL or Parquet or a dataset folder's split,
 * rewritten as JSONL in the row shape the engine reads, one file per source file (each keeps its own shape):
 *   text               {"text"}                           axolotl type completion; TRL language modeling
 *   prompt_completion  {"prompt","completion"}            axolotl user-defined prompt; TRL prompt-completion
 *   alpaca             {"prompt","completion"} for TRL (the Stanford Alpaca prompt loratune uses), the row as it is
 *                      for axolotl (its alpaca type is the same prompt)
 *   messages/sharegpt  {"messages":[{role, content}]}     axolotl chat_template; TRL conversational
 *   tokens             {"input_ids","labels"?}            axolotl pre-tokenized (no type); TRL pre-tokenized
 * Rows are checked as training checks them (data/shapes.ts), so a bad row fails here with its file and line.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expandDataPaths } from "../data/dataset-folder.ts";
import { alpacaPrompt } from "../data/encode.ts";
import { readDataRows } from "../data/rows.ts";
import { detectShape, parseRow, type Row, type RowShape } from "../data/shapes.ts";
import { LoratuneError } from "../errors.ts";

export type JobEngine = "axolotl" | "trl";

/** One converted file: where it is in the job (relative), what it holds. */
export interface JobDataFile {
  /** Relative to the job folder, e.g. data/train-0.jsonl. */
  path: string;
  /** The shape of the source file's rows; sharegpt rows are written as messages. */
  shape: RowShape;
  /** The shape written (alpaca is prompt_completion for TRL; sharegpt is messages). */
  written: RowShape;
  source: string;
  rows: number;
}

/** Converts `sources` (paths or dataset folders) into `<jobDir>/data/<prefix>-<i>.jsonl`. */
export function writeJobData(
  jobDir: string,
  prefix: "train" | "val",
  sources: string[],
  engine: JobEngine,
): JobDataFile[] {
  mkdirSync(join(jobDir, "data"), { recursive: true });
  return expandDataPaths(sources).map((source, i) => {
    const path = join("data", `${prefix}-${i}.jsonl`);
    return { ...convertFile(source, join(jobDir, path), engine), path, source };
  });
}

/** Streams `source` row by row into JSONL file `target`. */
function convertFile(source: string, target: string, engine: JobEngine) {
  const fd = openSync(target, "w");
  let shape: RowShape | null = null;
  let shapeLine = 0;
  let rows = 0;
  try {
    for (const { line, value, at } of readDataRows(source)) {
      const src = { file: source, line, at };
      if (shape === null) {
        shape = detectShape(value, src);
        shapeLine = line;
      }
      writeSync(fd, `${JSON.stringify(engineRow(parseRow(value, shape, shapeLine, src), shape, engine))}\n`);
      rows++;
    }
  } finally {
    closeSync(fd);
  }
  if (shape === null) throw new LoratuneError("ERR_DATA", `${source}: the dataset file has no rows`);
  const written: RowShape =
    shape === "sharegpt" ? "messages" : shape === "alpaca" && engine === "trl" ? "prompt_completion" : shape;
  return { shape, written, rows };
}

/** A row as the engine reads it. */
function engineRow(row: Row, shape: RowShape, engine: JobEngine): Record<string, unknown> {
  switch (row.shape) {
    case "text":
      return { text: row.text };
    case "prompt_completion":
      return { prompt: row.prompt, completion: row.completion };
    case "alpaca":
      return engine === "trl"
        ? { prompt: alpacaPrompt(row.instruction, row.input), completion: row.output }
        : { instruction: row.instruction, input: row.input, output: row.output };
    case "messages":
      return { messages: row.messages.map((m) => ({ role: m.role, content: m.content })) };
    case "tokens":
      return row.labels === null ? { input_ids: row.inputIds } : { input_ids: row.inputIds, labels: row.labels };
  }
  throw new LoratuneError("ERR_DATA", `unexpected row shape ${shape}`);
}
