/**
 * metrics.jsonl rows: one JSON object per optimizer step (`type: "train"`) or evaluation (`type: "eval"`).
 * JSON has no NaN, so a non-finite value is written as null; it reads back as NaN and the charts count it. Eval rows
 * of --metric exact-match runs also carry `samples` (prompts and the completions generated).
 */
import { readFileSync } from "node:fs";
import { LoratuneError } from "../errors.ts";
import type { MetricRow } from "../train/metrics.ts";
import type { EvalSample } from "../train/task-metric.ts";

export type { MetricRow };

const NUMERIC_FIELDS = [
  "loss",
  "lr",
  "grad_norm",
  "tokens_per_s",
  "elapsed_s",
  "val_loss",
  "val_perplexity",
  "exact_match",
  "token_accuracy",
  "rewards_accuracy",
  "rewards_margin",
  "rewards_chosen",
  "rewards_rejected",
  "logps_chosen",
  "logps_rejected",
  "preference_accuracy",
  "val_rewards_accuracy",
  "val_rewards_margin",
  "val_rewards_chosen",
  "val_rewards_rejected",
  "val_logps_chosen",
  "val_logps_rejected",
  "val_preference_accuracy",
] as const satisfies readonly (keyof MetricRow)[];

/**
 * Reads a metrics.jsonl file. Blank lines are skipped, and so are rows whose `type` is some other string
 * (room for future event kinds). A line that is not a JSON object with a known shape throws
 * LoratuneError("ERR_DATA") naming `file:line`; an unreadable file throws "ERR_IO".
 */
export function readMetrics(path: string): MetricRow[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: cannot read metrics file (${(err as Error).message})`, { cause: err });
  }
  const rows: MetricRow[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, "");
    if (line.trim() === "") continue;
    const row = parseMetricLine(line, `${path}:${i + 1}`);
    if (row) rows.push(row);
  }
  return rows;
}

/** Parses one line; `where` is "file:line" for messages. Returns null for rows of other types. */
export function parseMetricLine(line: string, where: string): MetricRow | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new LoratuneError("ERR_DATA", `${where}: invalid JSON in metrics file (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LoratuneError("ERR_DATA", `${where}: expected a JSON object per line, got ${describe(value)}`);
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.type !== "string") {
    throw new LoratuneError(
      "ERR_DATA",
      `${where}: expected a string "type" ("train" or "eval"), got ${describe(obj.type)}`,
    );
  }
  if (obj.type !== "train" && obj.type !== "eval") return null;
  if (typeof obj.step !== "number" || !Number.isInteger(obj.step)) {
    throw new LoratuneError("ERR_DATA", `${where}: expected an integer "step", got ${describe(obj.step)}`);
  }
  const row: MetricRow = { type: obj.type, step: obj.step };
  for (const key of NUMERIC_FIELDS) {
    const v = obj[key];
    if (v === undefined) continue;
    if (v !== null && typeof v !== "number") {
      throw new LoratuneError("ERR_DATA", `${where}: expected "${key}" to be a number or null, got ${describe(v)}`);
    }
    row[key] = v === null ? Number.NaN : v;
  }
  if (obj.samples !== undefined) row.samples = parseSamples(obj.samples, where);
  return row;
}

/** An eval row's `samples`: an array of {prompt, prediction, reference} strings. */
function parseSamples(v: unknown, where: string): EvalSample[] {
  const isSample = (s: unknown): s is EvalSample =>
    typeof s === "object" &&
    s !== null &&
    ["prompt", "prediction", "reference"].every((k) => typeof (s as Record<string, unknown>)[k] === "string");
  if (!Array.isArray(v) || !v.every(isSample))
    throw new LoratuneError(
      "ERR_DATA",
      `${where}: expected "samples" to be an array of {"prompt", "prediction", "reference"} strings, got ${describe(v)}`,
    );
  return v.map((s) => ({ prompt: s.prompt, prediction: s.prediction, reference: s.reference }));
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  return typeof v === "number" || typeof v === "boolean" ? String(v) : typeof v;
}
