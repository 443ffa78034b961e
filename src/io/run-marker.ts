/**
 * The marker a loratune output directory carries (`loratune.json`): it says that loratune wrote the directory,
 * what kind of output it is, and, for a training run, how far the run got. `--overwrite` only ever replaces a
 * directory with this marker, and `inspect` / `--resume` read the run's status from it.
 *
 * Keys are snake_case, like every JSON file loratune writes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LoratuneError } from "../errors.ts";
import { writeFileAtomic } from "./atomic.ts";

export const MARKER_FILE = "loratune.json";

/** What a loratune output directory holds. */
export type OutputKind = "run" | "merged-model" | "demo" | "export" | "lr-find" | "sweep" | "export-job";
export const OUTPUT_KINDS: readonly OutputKind[] = [
  "run",
  "merged-model",
  "demo",
  "export",
  "lr-find",
  "sweep",
  "export-job",
];

/** A training run's state: running (or killed while running), or how it ended. */
export type RunStatus = "running" | "completed" | "early_stopping" | "interrupted" | "failed";
export const RUN_STATUSES: readonly RunStatus[] = ["running", "completed", "early_stopping", "interrupted", "failed"];

export interface RunMarker {
  /** The loratune version that last wrote the directory. */
  loratune: string;
  kind: OutputKind;
  /** ISO 8601 times. */
  created: string;
  updated: string;
  /** Training runs only. */
  status?: RunStatus;
  /** Completed optimizer steps, and the steps the run was set up for. */
  steps_done?: number;
  total_steps?: number;
  best_val_loss?: number | null;
  /** The error that ended a failed run (one line). */
  error?: string;
}

let version: string | undefined;
/** loratune's package version (read once). */
export function loratuneVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    version = pkg.version;
  }
  return version;
}

/** The marker of `dir`, or null when `dir` has none (not written by loratune). A damaged marker is an error. */
export function readMarker(dir: string): RunMarker | null {
  const path = join(dir, MARKER_FILE);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LoratuneError("ERR_IO", `${path}: unreadable loratune marker (${(err as Error).message})`);
  }
  const m = raw as Partial<RunMarker> | null;
  if (
    m === null ||
    typeof m !== "object" ||
    typeof m.kind !== "string" ||
    !OUTPUT_KINDS.includes(m.kind as OutputKind) ||
    (m.status !== undefined && !RUN_STATUSES.includes(m.status))
  ) {
    throw new LoratuneError(
      "ERR_IO",
      `${path}: not a loratune marker (expected {"kind": one of ${OUTPUT_KINDS.join(", ")}, ...})`,
    );
  }
  return m as RunMarker;
}

/** Writes (or updates) the marker of `dir`, keeping `created` from an earlier marker of the same kind. */
export function writeMarker(dir: string, fields: Omit<RunMarker, "loratune" | "created" | "updated">): RunMarker {
  let created: string | undefined;
  try {
    const old = readMarker(dir);
    if (old?.kind === fields.kind) created = old.created;
  } catch {
    // a damaged marker is rewritten
  }
  const now = new Date().toISOString();
  const marker: RunMarker = { loratune: loratuneVersion(), ...fields, created: created ?? now, updated: now };
  writeFileAtomic(join(dir, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`);
  return marker;
}
