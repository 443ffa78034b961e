/**
 * The API's data and model endpoints (docs/ui-api.md):
 *   GET  /api/models              { models: ModelChoice[] } (the picker's choices)
 *   GET  /api/options             { options: the train option table } (keys, kinds, defaults, bounds, help)
 *   POST /api/uploads?name=F.jsonl  the body (raw JSONL, at most --max-upload bytes, else 413) saved as
 *                                 uploads/F.jsonl in the workspace: { path }
 *   POST /api/preview             { model, data, seq-len?, train-on-prompt?, rows? } → DataPreview (preview.ts)
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import { HttpError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { JSON_LIMIT, type UiContext, UPLOADS_DIR } from "./context.ts";
import { readBody, readJsonObject, sendJson } from "./http.ts";
import { listModels } from "./models.ts";
import { previewData } from "./preview.ts";
import type { Route } from "./router.ts";
import { confine } from "./security.ts";

/** An upload's file name: letters, digits, "-", "_" and "." ending in .jsonl (no folders). */
const UPLOAD_NAME = /^[\w-][\w.-]{0,100}\.jsonl$/;

/** The model value, when it is one of the picker's choices; 403 otherwise. */
export function checkModel(ctx: UiContext, model: unknown): string {
  if (typeof model !== "string" || model === "") throw new HttpError(400, "model: expected a model from the list");
  if (!listModels(ctx.workspace, ctx.modelPaths).some((m) => m.value === model))
    throw new HttpError(403, `model ${JSON.stringify(model)} is not in the workspace or named with --models; refused`);
  return model;
}

/** Data path(s), comma-separated, each confined to the workspace; returned absolute. */
export function checkDataPaths(ctx: UiContext, data: unknown, what = "data"): string {
  if (typeof data !== "string" || data.trim() === "") throw new HttpError(400, `${what}: expected a JSONL file path`);
  return data
    .split(",")
    .map((p) => confine(p.trim(), [ctx.workspace], what))
    .join(",");
}

export function dataRoutes(ctx: UiContext): Route[] {
  return [
    {
      method: "GET",
      pattern: "/api/models",
      handle: ({ res }) => sendJson(res, { models: listModels(ctx.workspace, ctx.modelPaths) }),
    },
    {
      method: "GET",
      pattern: "/api/options",
      handle: ({ res }) => sendJson(res, { options: TRAIN_OPTIONS.filter((d) => !d.cliOnly) }),
    },
    {
      method: "POST",
      pattern: "/api/uploads",
      handle: async ({ req, res, url }) => {
        const name = url.searchParams.get("name") ?? "";
        if (!UPLOAD_NAME.test(name))
          throw new HttpError(400, `upload name ${JSON.stringify(name)}: expected a file name ending in .jsonl`);
        const body = await readBody(req, ctx.maxUploadBytes);
        const rel = `${UPLOADS_DIR}/${name}`;
        mkdirSync(join(ctx.workspace, UPLOADS_DIR), { recursive: true });
        writeFileAtomic(join(ctx.workspace, UPLOADS_DIR, name), body);
        sendJson(res, { path: rel, bytes: body.length });
      },
    },
    {
      method: "POST",
      pattern: "/api/preview",
      handle: async ({ req, res }) => {
        const body = await readJsonObject(req, JSON_LIMIT);
        sendJson(res, previewData(checkModel(ctx, body.model), checkDataPaths(ctx, body.data), body));
      },
    },
  ];
}
