/** Every endpoint of the JSON API (docs/ui-api.md), in one table. */
import { dataRoutes } from "./api-data.ts";
import { eventRoutes } from "./api-events.ts";
import { launchRoutes } from "./api-launch.ts";
import { outputRoutes } from "./api-outputs.ts";
import { playgroundRoutes } from "./api-playground.ts";
import { runRoutes } from "./api-runs.ts";
import { compareRuns } from "./compare.ts";
import { runDir, type UiContext } from "./context.ts";
import { sendJson } from "./http.ts";
import type { Route } from "./router.ts";

/** GET /api/compare?runs=A&runs=B: { runs: [{ id, settings, loss, valLoss }], diff: [{ key, values, differs }] }. */
function compareRoute(ctx: UiContext): Route {
  return { method: "GET", pattern: "/api/compare", handle: ({ res, url }) => sendJson(res, comparison(ctx, url)) };
}

/** The runs named by ?runs= (each confined to the workspace) compared. */
export function comparison(ctx: UiContext, url: URL) {
  const ids = url.searchParams.getAll("runs");
  return compareRuns(
    ids,
    ids.map((id) => runDir(ctx, id)),
  );
}

export function apiRoutes(ctx: UiContext): Route[] {
  return [
    ...runRoutes(ctx),
    ...eventRoutes(ctx),
    ...outputRoutes(ctx),
    ...dataRoutes(ctx),
    ...launchRoutes(ctx),
    ...playgroundRoutes(ctx, ctx.models),
    compareRoute(ctx),
  ];
}
