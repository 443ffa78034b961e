/**
 * The pages (server-rendered HTML, see pages/) and their two assets, /assets/app.css and /assets/app.js (the
 * script, client/app-script.ts). Pages read what the API reads; the script then talks to the API.
 */
import { HttpError } from "../errors.ts";
import { comparison } from "./api-routes.ts";
import { runDetail, runList, sweepList } from "./api-runs.ts";
import { APP_SCRIPT } from "./client/app-script.ts";
import type { UiContext } from "./context.ts";
import { sendHtml, sendText } from "./http.ts";
import { listModels } from "./models.ts";
import { comparePage } from "./pages/compare-page.ts";
import { CSS } from "./pages/layout.ts";
import { newRunPage } from "./pages/new-run-page.ts";
import { playgroundPage } from "./pages/playground-page.ts";
import { runPage } from "./pages/run-page.ts";
import { runsPage } from "./pages/runs-page.ts";
import type { Route } from "./router.ts";

/** A fresh run name: run-1, run-2, ... (the first not taken). */
function freshRunName(ctx: UiContext): string {
  const taken = new Set(runList(ctx).map((r) => r.id));
  let i = 1;
  while (taken.has(`runs/run-${i}`)) i++;
  return `run-${i}`;
}

export function pageRoutes(ctx: UiContext): Route[] {
  return [
    {
      method: "GET",
      pattern: "/",
      handle: ({ res }) => sendHtml(res, runsPage(ctx.workspace, runList(ctx), sweepList(ctx))),
    },
    {
      method: "GET",
      pattern: "/new",
      handle: ({ res }) => sendHtml(res, newRunPage(listModels(ctx.workspace, ctx.modelPaths), freshRunName(ctx))),
    },
    {
      method: "GET",
      pattern: "/run",
      handle: ({ res, url }) => {
        const id = url.searchParams.get("id");
        if (!id) throw new HttpError(400, "expected ?id=RUN");
        const detail = runDetail(ctx, id);
        sendHtml(res, runPage(detail.summary, detail.settings));
      },
    },
    {
      method: "GET",
      pattern: "/compare",
      handle: ({ res, url }) => {
        const { runs, diff } = comparison(ctx, url);
        sendHtml(res, comparePage(runList(ctx), runs, diff));
      },
    },
    {
      method: "GET",
      pattern: "/playground",
      handle: ({ res, url }) => sendHtml(res, playgroundPage(runList(ctx), url.searchParams.get("run"))),
    },
    { method: "GET", pattern: "/assets/app.css", handle: ({ res }) => sendText(res, CSS, "text/css; charset=utf-8") },
    {
      method: "GET",
      pattern: "/assets/app.js",
      handle: ({ res }) => sendText(res, APP_SCRIPT, "text/javascript; charset=utf-8"),
    },
  ];
}
