/**
 * Starting runs from the New run form (docs/ui-api.md):
 *   POST /api/check  { name, settings }  → RunCheck (errors by option, worded as train words them; estimate)
 *   POST /api/runs   { name, settings }  → { id } once `loratune train` is started in a child process, or 400 with
 *                                          { error, errors } when a check fails
 * `settings` maps train option keys (as in config.yaml) to values; the run goes to runs/NAME in the workspace. The
 * model must be one of the picker's, and every path inside the workspace.
 */
import { join } from "node:path";
import type { OptionValues } from "../api/options.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import { HttpError } from "../errors.ts";
import { checkDataPaths, checkModel } from "./api-data.ts";
import { runList } from "./api-runs.ts";
import { JSON_LIMIT, RUNS_DIR, type UiContext } from "./context.ts";
import { readJsonObject, sendJson } from "./http.ts";
import type { Route } from "./router.ts";
import { checkRun, FORM_HIDDEN, type RunCheck } from "./run-check.ts";

/** A run's name: a folder name under runs/. */
const RUN_NAME = /^[A-Za-z0-9][\w.-]{0,63}$/;

/** The settings of a request, paths confined to the workspace (403) and the model one of the picker's. */
function requestSettings(ctx: UiContext, body: Record<string, unknown>): OptionValues {
  const given = body.settings;
  if (typeof given !== "object" || given === null || Array.isArray(given))
    throw new HttpError(400, 'expected "settings": an object of train options');
  const values: OptionValues = {};
  for (const d of TRAIN_OPTIONS) {
    const v = (given as Record<string, unknown>)[d.key];
    if (v === undefined || v === null || v === "" || FORM_HIDDEN.has(d.key)) continue;
    if (d.key === "model") values.model = checkModel(ctx, v);
    else if (d.path) values[d.key] = checkDataPaths(ctx, v, d.key);
    else values[d.key] = v as OptionValues[string];
  }
  return values;
}

function runName(body: Record<string, unknown>): string {
  const name = body.name;
  if (typeof name !== "string" || !RUN_NAME.test(name))
    throw new HttpError(400, `run name ${JSON.stringify(name ?? "")}: expected letters, digits, "-", "_" or "."`);
  return name;
}

/** The best tokens/s that earlier runs of `model` in the workspace reached (for the time estimate). */
function modelSpeed(ctx: UiContext, model: unknown): number | null {
  if (typeof model !== "string") return null;
  // Both are as --model takes them: absolute paths (config.yaml's, read back) or names ("demo", "org/name").
  const speeds = runList(ctx)
    .filter((r) => r.model === model && r.tokensPerS !== null)
    .map((r) => r.tokensPerS!);
  return speeds.length > 0 ? Math.max(...speeds) : null;
}

function check(ctx: UiContext, body: Record<string, unknown>): { id: string; out: string; result: RunCheck } {
  const name = runName(body);
  const values = requestSettings(ctx, body);
  const id = `${RUNS_DIR}/${name}`;
  const out = join(ctx.workspace, RUNS_DIR, name);
  return { id, out, result: checkRun(values, out, modelSpeed(ctx, values.model)) };
}

export function launchRoutes(ctx: UiContext): Route[] {
  return [
    {
      method: "POST",
      pattern: "/api/check",
      handle: async ({ req, res }) => sendJson(res, check(ctx, await readJsonObject(req, JSON_LIMIT)).result),
    },
    {
      method: "POST",
      pattern: "/api/runs",
      handle: async ({ req, res }) => {
        const { id, out, result } = check(ctx, await readJsonObject(req, JSON_LIMIT));
        const first = Object.values(result.errors)[0];
        if (first !== undefined) return sendJson(res, { error: first, errors: result.errors }, 400);
        const child = ctx.launcher.start(id, ["train", ...result.args, "--out", out, "--json"]);
        sendJson(res, { id, pid: child.pid, args: child.argv });
      },
    },
  ];
}
