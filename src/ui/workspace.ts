/**
 * The workspace's training runs: every folder (down to MAX_DEPTH levels under the workspace) that carries a
 * loratune marker of kind "run", however it was started (the UI, or `loratune train --out` from a shell). A run
 * is named by its path relative to the workspace ("runs/first"), which is also its id in the API. Sweeps (marker
 * kind "sweep") are found the same way; their trials are runs.
 */
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { type OutputKind, readMarker } from "../io/run-marker.ts";

/** How deep under the workspace runs are looked for (runs/NAME is depth 2). */
export const MAX_DEPTH = 3;

/** Folders never searched: a run's own checkpoints, installed packages, hidden folders. */
const SKIPPED = new Set(["checkpoints", "node_modules"]);

/** Ids (paths relative to the workspace, with "/") of the outputs of `kind` (runs by default), sorted. */
export function listRunIds(workspace: string, kind: OutputKind = "run"): string[] {
  const ids: string[] = [];
  walk(workspace, 0, kind, (dir) => ids.push(relative(workspace, dir).split(sep).join("/")));
  return ids.sort();
}

function walk(dir: string, depth: number, kind: OutputKind, found: (dir: string) => void): void {
  const here = kindOf(dir);
  if (here === kind) {
    found(dir);
    return;
  }
  if (here === "run") return; // nothing of another kind lives inside a run
  if (depth >= MAX_DEPTH) return;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".") || SKIPPED.has(e.name)) continue;
    walk(join(dir, e.name), depth + 1, kind, found);
  }
}

function kindOf(dir: string): OutputKind | null {
  try {
    return readMarker(dir)?.kind ?? null;
  } catch {
    return null;
  }
}
