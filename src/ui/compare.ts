/**
 * Compare: the chosen runs' curves (training loss, validation loss) on shared axes, and their settings side by
 * side with the keys whose values differ listed first.
 */
import { join } from "node:path";
import type { MetricRow } from "../report/metrics.ts";
import { readMetricsFrom } from "./run-metrics.ts";
import { readSettings } from "./run-summary.ts";

export interface ComparedRun {
  id: string;
  settings: Record<string, unknown>;
  /** [step, value] of each series. */
  loss: [number, number][];
  valLoss: [number, number][];
}

export interface SettingsDiff {
  key: string;
  /** One value per run, in the runs' order ("" where a run has none). */
  values: string[];
  differs: boolean;
}

/** The runs' series and settings; `dirs` are the runs' directories in the order of `ids`. */
export function compareRuns(ids: string[], dirs: string[]): { runs: ComparedRun[]; diff: SettingsDiff[] } {
  const runs = ids.map((id, i) => {
    const rows = readMetricsFrom(join(dirs[i]!, "metrics.jsonl")).rows;
    return {
      id,
      settings: readSettings(dirs[i]!),
      loss: series(rows, "train", "loss"),
      valLoss: series(rows, "eval", "val_loss"),
    };
  });
  return { runs, diff: settingsDiff(runs.map((r) => r.settings)) };
}

function series(rows: MetricRow[], type: MetricRow["type"], key: "loss" | "val_loss"): [number, number][] {
  return rows.filter((r) => r.type === type && r[key] !== undefined).map((r): [number, number] => [r.step, r[key]!]);
}

/** Every key of any run's settings, differing ones first (each group in the order first seen). */
export function settingsDiff(settings: Record<string, unknown>[]): SettingsDiff[] {
  const keys = [...new Set(settings.flatMap((s) => Object.keys(s)))];
  const rows = keys.map((key) => {
    const values = settings.map((s) => (s[key] === undefined ? "" : String(s[key])));
    return { key, values, differs: new Set(values).size > 1 };
  });
  return [...rows.filter((r) => r.differs), ...rows.filter((r) => !r.differs)];
}
