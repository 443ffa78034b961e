/**
 * Merge and export of a run, through the CLI's own commands in a child process (as a shell would run them):
 *   POST /api/runs/:id/merge   loratune merge --model BASE --adapter RUN --out merged/NAME --overwrite
 *   POST /api/runs/:id/export  loratune export --model BASE --adapter RUN --out exports/NAME --overwrite (the base
 *                              with the adapter merged, as GGUF: model.gguf and a Modelfile)
 * Both answer once the command has finished: { out, exitCode, output } (output: its last lines), status 200 when
 * it succeeded, 400 with { error } otherwise. --overwrite only ever replaces an earlier output loratune wrote.
 */
import { basename, join } from "node:path";
import { HttpError } from "../errors.ts";
import { JSON_LIMIT, runDir, type UiContext } from "./context.ts";
import { readJsonObject, sendJson } from "./http.ts";
import type { Route } from "./router.ts";
import { readSettings } from "./run-summary.ts";

/** Where each output goes in the workspace. */
export const OUTPUT_DIRS = { merge: "merged", export: "exports" } as const;

function outputArgs(kind: keyof typeof OUTPUT_DIRS, dir: string, out: string): string[] {
  const model = readSettings(dir).model;
  if (typeof model !== "string") throw new HttpError(409, `${dir} has no config.yaml naming its model`);
  // config.yaml's model as readConfigFile gives it: an absolute path, or a name ("demo", "org/name", "ollama:…").
  return [kind, "--model", model, "--adapter", dir, "--out", out, "--overwrite"];
}

export function outputRoutes(ctx: UiContext): Route[] {
  return (Object.keys(OUTPUT_DIRS) as (keyof typeof OUTPUT_DIRS)[]).map((kind) => ({
    method: "POST",
    pattern: `/api/runs/:id/${kind}`,
    handle: async ({ req, res, params }) => {
      await readJsonObject(req, JSON_LIMIT);
      const dir = runDir(ctx, params.id!);
      const out = join(ctx.workspace, OUTPUT_DIRS[kind], basename(dir));
      const key = `${params.id}#${kind}`;
      ctx.launcher.start(key, outputArgs(kind, dir, out));
      const state = (await ctx.launcher.exited(key))!;
      const body = { out, exitCode: state.exitCode, output: state.output.slice(-12) };
      if (state.exitCode !== 0) return sendJson(res, { error: state.output.at(-1) ?? `${kind} failed`, ...body }, 400);
      sendJson(res, body);
    },
  }));
}
