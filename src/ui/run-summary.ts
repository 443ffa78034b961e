/**
 * One run as the Runs list and the API show it, read from the files `loratune train` writes: loratune.json
 * (status, steps planned, best validation loss), metrics.jsonl (the loss series, steps done, tokens/s) and
 * config.yaml (the settings). Nothing here depends on who started the run.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { readConfigFile } from "../api/run-config.ts";
import { readMarker } from "../io/run-marker.ts";
import type { MetricRow } from "../report/metrics.ts";
import { readMetricsFrom } from "./run-metrics.ts";

/** Points of the loss series in a summary (the sparkline); the run's own page reads every row. */
export const SPARK_POINTS = 60;

export interface RunSummary {
  id: string;
  status: string;
  /** Steps done (the last train row's step, else the marker's). */
  steps: number;
  totalSteps: number | null;
  bestValLoss: number | null;
  lastLoss: number | null;
  /** The last step's tokens/s. */
  tokensPerS: number | null;
  updated: string | null;
  model: string | null;
  error: string | null;
  /** [step, loss] pairs, at most SPARK_POINTS of them (evenly picked, the last kept). */
  loss: [number, number][];
}

/** Summaries already made, by run directory, with the sizes and times of the files they were read from. */
const made = new Map<string, { stamp: string; summary: RunSummary }>();

/**
 * The summary of the run in `dir` (id: its workspace-relative name); made again only when loratune.json,
 * metrics.jsonl or config.yaml changed (the Runs page asks every few seconds, and metrics.jsonl grows long).
 */
export function summarizeRun(id: string, dir: string): RunSummary {
  const stamp = ["loratune.json", "metrics.jsonl", "config.yaml"]
    .map((f) => {
      const st = statSync(join(dir, f), { throwIfNoEntry: false });
      return st ? `${st.size}:${st.mtimeMs}` : "-";
    })
    .join("|");
  const kept = made.get(dir);
  if (kept?.stamp === stamp && kept.summary.id === id) return kept.summary;
  const summary = readSummary(id, dir);
  made.set(dir, { stamp, summary });
  return summary;
}

function readSummary(id: string, dir: string): RunSummary {
  const marker = safe(() => readMarker(dir));
  const rows = safe(() => readMetricsFrom(join(dir, "metrics.jsonl")).rows) ?? [];
  const train = rows.filter((r) => r.type === "train");
  const last = train.at(-1);
  const settings = readSettings(dir);
  return {
    id,
    // No marker yet: a run the UI started is still reading its inputs.
    status: marker?.status ?? "starting",
    steps: last?.step ?? marker?.steps_done ?? 0,
    totalSteps: marker?.total_steps ?? null,
    bestValLoss: bestVal(rows) ?? marker?.best_val_loss ?? null,
    lastLoss: finite(last?.loss),
    tokensPerS: finite(last?.tokens_per_s),
    updated: marker?.updated ?? null,
    model: typeof settings.model === "string" ? settings.model : null,
    error: marker?.error ?? null,
    loss: sparkline(train),
  };
}

/** config.yaml's settings (empty when the run has none or it is unreadable). */
export function readSettings(dir: string): Record<string, unknown> {
  const path = join(dir, "config.yaml");
  if (!existsSync(path)) return {};
  return safe(() => readConfigFile(path) as Record<string, unknown>) ?? {};
}

function bestVal(rows: MetricRow[]): number | null {
  let best: number | null = null;
  for (const r of rows)
    if (r.type === "eval" && Number.isFinite(r.val_loss)) best = Math.min(best ?? Infinity, r.val_loss!);
  return best;
}

function sparkline(train: MetricRow[]): [number, number][] {
  const points = train.filter((r) => Number.isFinite(r.loss)).map((r): [number, number] => [r.step, r.loss!]);
  if (points.length <= SPARK_POINTS) return points;
  const every = points.length / SPARK_POINTS;
  const picked = Array.from({ length: SPARK_POINTS - 1 }, (_, i) => points[Math.floor(i * every)]!);
  return [...picked, points.at(-1)!];
}

const finite = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);

function safe<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}
