/**
 * The API's run endpoints (docs/ui-api.md):
 *   GET  /api/runs                 every run of the workspace: { runs: RunSummary[] }
 *   GET  /api/runs/:id             { summary, settings, metrics, child } (metrics: every metrics.jsonl row)
 *   GET  /api/runs/:id/files/:name a file of the run (report.html, config.yaml, metrics.jsonl, ...)
 *   POST /api/runs/:id/stop        checkpoint, then stop (a run this UI started)
 *   POST /api/runs/:id/resume      `loratune train --resume` in a child process
 *   GET  /api/sweeps               { sweeps: [{ id, trials }] } (a sweep's trials are runs too)
 *   GET  /api/sweeps/:id/report    the sweep's report.html (its trial table and heat map)
 * A run id is the run's path relative to the workspace, percent-encoded as one segment ("runs%2Ffirst").
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { HttpError } from "../errors.ts";
import { type RunStatus, readMarker } from "../io/run-marker.ts";
import { JSON_LIMIT, runDir, type UiContext } from "./context.ts";
import { readJsonObject, sendJson, sendWorkspaceFile } from "./http.ts";
import type { Route } from "./router.ts";
import { readMetricsFrom } from "./run-metrics.ts";
import { readSettings, summarizeRun } from "./run-summary.ts";
import { confine } from "./security.ts";
import { listRunIds } from "./workspace.ts";

const FILE_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
  ".yaml": "text/plain; charset=utf-8",
  ".jinja": "text/plain; charset=utf-8",
};

/** Every run's summary, with whether this UI's child is running it. */
export function runList(ctx: UiContext) {
  return listRunIds(ctx.workspace).map((id) => ({
    ...summarizeRun(id, join(ctx.workspace, id)),
    child: ctx.launcher.state(id)?.running === true,
  }));
}

export function runDetail(ctx: UiContext, id: string) {
  const dir = runDir(ctx, id);
  return {
    summary: summarizeRun(id, dir),
    settings: readSettings(dir),
    metrics: readMetricsFrom(join(dir, "metrics.jsonl")).rows,
    child: ctx.launcher.state(id),
  };
}

/** Whether a run may be resumed: not running here, and stopped short of its end. */
export function resumable(status: RunStatus | undefined): boolean {
  return status === "interrupted" || status === "failed" || status === "running";
}

/** A "running" run whose metrics were written this recently is taken to be training elsewhere (a shell). */
export const LIVE_WINDOW_MS = 60_000;

/**
 * 409 when the run looks alive in another process: its marker says "running" (a killed run says so too) and its
 * metrics.jsonl changed within LIVE_WINDOW_MS. Two trainers must never write one run directory.
 */
function refuseIfLiveElsewhere(id: string, dir: string, status: RunStatus | undefined): void {
  if (status !== "running") return;
  const metrics = statSync(join(dir, "metrics.jsonl"), { throwIfNoEntry: false });
  const age = metrics ? Date.now() - metrics.mtimeMs : Number.POSITIVE_INFINITY;
  if (age < LIVE_WINDOW_MS)
    throw new HttpError(
      409,
      `run ${id} is being trained by another process (metrics.jsonl changed ${Math.round(age / 1000)} s ago); stop it there first`,
    );
}

/** The workspace's sweeps, with how many trials each has started. */
export function sweepList(ctx: UiContext): { id: string; trials: number }[] {
  return listRunIds(ctx.workspace, "sweep").map((id) => ({
    id,
    trials: listRunIds(join(ctx.workspace, id, "trials")).length,
  }));
}

export function runRoutes(ctx: UiContext): Route[] {
  return [
    { method: "GET", pattern: "/api/sweeps", handle: ({ res }) => sendJson(res, { sweeps: sweepList(ctx) }) },
    {
      method: "GET",
      pattern: "/api/sweeps/:id/report",
      handle: ({ res, params }) => {
        const dir = confine(params.id!, [ctx.workspace], "sweep");
        const report = join(dir, "report.html");
        if (readMarker(dir)?.kind !== "sweep" || !existsSync(report))
          throw new HttpError(404, `no sweep report at ${params.id}`);
        sendWorkspaceFile(res, readFileSync(report, "utf8"), FILE_TYPES[".html"]!);
      },
    },
    { method: "GET", pattern: "/api/runs", handle: ({ res }) => sendJson(res, { runs: runList(ctx) }) },
    { method: "GET", pattern: "/api/runs/:id", handle: ({ res, params }) => sendJson(res, runDetail(ctx, params.id!)) },
    {
      method: "GET",
      pattern: "/api/runs/:id/files/:name",
      handle: ({ res, params }) => {
        const dir = runDir(ctx, params.id!);
        const file = confine(params.name!, [dir], "file", `run ${params.id}`);
        if (!existsSync(file) || !statSync(file).isFile())
          throw new HttpError(404, `no file ${params.name} in run ${params.id}`);
        sendWorkspaceFile(res, readFileSync(file, "utf8"), FILE_TYPES[extname(file)] ?? "text/plain; charset=utf-8");
      },
    },
    {
      method: "POST",
      pattern: "/api/runs/:id/stop",
      handle: async ({ req, res, params }) => {
        await readJsonObject(req, JSON_LIMIT);
        runDir(ctx, params.id!);
        if (!ctx.launcher.stop(params.id!))
          throw new HttpError(409, `run ${params.id} is not running from this UI (stop a shell's run with Ctrl-C)`);
        sendJson(res, { stopping: params.id });
      },
    },
    {
      method: "POST",
      pattern: "/api/runs/:id/resume",
      handle: async ({ req, res, params }) => {
        const body = await readJsonObject(req, JSON_LIMIT);
        const dir = runDir(ctx, params.id!);
        if (ctx.launcher.state(params.id!)?.running) throw new HttpError(409, `run ${params.id} is running`);
        const steps = body.steps === undefined ? [] : ["--steps", String(body.steps)];
        const status = readMarker(dir)?.status;
        refuseIfLiveElsewhere(params.id!, dir, status);
        if (steps.length === 0 && !resumable(status))
          throw new HttpError(409, `run ${params.id} is ${status}; give more steps to extend it`);
        const child = ctx.launcher.start(params.id!, ["train", "--resume", dir, ...steps, "--json"]);
        sendJson(res, { resumed: params.id, pid: child.pid });
      },
    },
  ];
}
