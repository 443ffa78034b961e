/**
 * What every handler of the UI server shares: the workspace (runs, uploads and data paths live inside it), the
 * model folders the user named, the session token, the server's own origin, the upload limit, the children
 * running training, and the models the Playground loaded.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { HttpError } from "../errors.ts";
import { readMarker } from "../io/run-marker.ts";
import type { Launcher } from "./launcher.ts";
import type { ModelCache } from "./playground.ts";
import { confine } from "./security.ts";

export interface UiContext {
  /** Absolute path of the workspace. */
  workspace: string;
  /** Model folders or GGUF files named with --models (besides the workspace, the demo and the HF cache). */
  modelPaths: string[];
  token: string;
  /** "http://HOST:PORT", set once the server listens. */
  origin: string;
  /** Largest request body accepted (uploads); JSON bodies are capped at the smaller JSON_LIMIT. */
  maxUploadBytes: number;
  launcher: Launcher;
  /** The Playground's loaded models. */
  models: ModelCache;
  /** The built browser page (/webgpu/); default the package's dist-web/ (web-routes.ts). */
  webDir?: string;
}

/** JSON request bodies: settings and prompts, never data. */
export const JSON_LIMIT = 1 << 20;

/** Where uploaded data files are written, inside the workspace. */
export const UPLOADS_DIR = "uploads";
/** Where runs started from the UI are created, inside the workspace. */
export const RUNS_DIR = "runs";

/**
 * The directory of run `id` (workspace-relative); 403 outside the workspace, 404 when it is not a run. A run this
 * UI has just started is one before its directory exists (train reads its inputs first).
 */
export function runDir(ctx: UiContext, id: string): string {
  const dir = confine(id, [ctx.workspace], "run");
  if (ctx.launcher.state(id) !== null && !existsSync(join(dir, "loratune.json"))) return dir;
  let kind: string | undefined;
  try {
    kind = readMarker(dir)?.kind;
  } catch {
    kind = undefined;
  }
  if (!existsSync(join(dir, "loratune.json")) || kind !== "run")
    throw new HttpError(404, `no run ${id} in the workspace`);
  return dir;
}
