/**
 * The workspace's training runs: every folder (down to MAX_DEPTH levels under the workspace) that carries a
 * loratune marker of kind "run", however it was started (the UI, or `loratune train --out` from a shell). A run
 * is named by its path relative to the workspace ("runs/first"), which is also its id in the API.
 */
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { readMarker } from "../io/run-marker.ts";

/** How deep under the workspace runs are looked for (runs/NAME is depth 2). */
export const MAX_DEPTH = 3;

/** Folders never searched: a run's own checkpoints, installed packages, hidden folders. */
const SKIPPED = new Set(["checkpoints", "node_modules"]);

/** Run ids (paths relative to the workspace, with "/"), sorted. */
export function listRunIds(workspace: string): string[] {
  const ids: string[] = [];
  walk(workspace, 0, (dir) => ids.push(relative(workspace, dir).split(sep).join("/")));
  return ids.sort();
}

function walk(dir: string, depth: number, onRun: (dir: string) => void): void {
  if (isRun(dir)) {
    onRun(dir);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".") || SKIPPED.has(e.name)) continue;
    walk(join(dir, e.name), depth + 1, onRun);
  }
}

function isRun(dir: string): boolean {
  try {
    return readMarker(dir)?.kind === "run";
  } catch {
    return false;
  }
}
