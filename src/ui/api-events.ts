/**
 * GET /api/runs/:id/events: the live run as server-sent events, read from the run directory (so a run started in
 * a shell streams as well as one started here):
 *   event: metric   data: a metrics.jsonl row ({type:"train", step, loss, lr, grad_norm, ...} or {type:"eval", ...})
 *   event: reset    data: {} (the run was resumed from an earlier checkpoint: later rows were dropped; start over)
 *   event: status   data: { status, steps, totalSteps, running, etaS, exitCode, output } whenever one changes
 * Every row already written is sent first, so a page opened mid-run draws the whole curve. The directory is polled
 * every POLL_MS; a comment line keeps idle connections open.
 */
import { join } from "node:path";
import { readMarker } from "../io/run-marker.ts";
import type { MetricRow } from "../report/metrics.ts";
import { runDir, type UiContext } from "./context.ts";
import type { Route } from "./router.ts";
import { readMetricsFrom } from "./run-metrics.ts";

export const POLL_MS = 250;
const KEEPALIVE_MS = 15_000;
/** Steps the ETA averages over. */
const ETA_WINDOW = 10;

/** Seconds left at the pace of the last steps (elapsed_s of one session), or null before two steps. */
export function etaSeconds(train: MetricRow[], totalSteps: number | null): number | null {
  const last = train.at(-1);
  if (!last || totalSteps === null) return null;
  let first = last;
  for (let i = train.length - 2; i >= Math.max(0, train.length - 1 - ETA_WINDOW); i--) {
    const r = train[i]!;
    if (!(r.elapsed_s! < first.elapsed_s!)) break; // a resumed session restarts its clock
    first = r;
  }
  if (first === last) return null;
  const perStep = (last.elapsed_s! - first.elapsed_s!) / (last.step - first.step);
  return Math.max(0, totalSteps - last.step) * perStep;
}

/** What the status event says: the marker's status and total, the steps seen, this server's child, the ETA. */
function runStatus(ctx: UiContext, id: string, dir: string, train: MetricRow[]) {
  const marker = safeRead(() => readMarker(dir));
  const child = ctx.launcher.state(id);
  const totalSteps = marker?.total_steps ?? null;
  return {
    status: marker?.status ?? (child && !child.running ? "failed to start" : "starting"),
    steps: train.at(-1)?.step ?? marker?.steps_done ?? 0,
    totalSteps,
    running: child?.running === true,
    etaS: etaSeconds(train, totalSteps),
    exitCode: child?.exitCode ?? null,
    // Why a child failed: its last lines (train's error message).
    output: child && !child.running && child.exitCode !== 0 ? child.output.slice(-6) : [],
  };
}

/** Sends the run's new metrics rows and, when it changed, its status; called every POLL_MS. */
function follower(ctx: UiContext, id: string, dir: string, send: (event: string, data: unknown) => void) {
  let offset = 0;
  let lastStatus = "";
  const train: MetricRow[] = [];
  return () => {
    const chunk = safeRead(() => readMetricsFrom(join(dir, "metrics.jsonl"), offset));
    if (chunk) {
      if (chunk.restarted) {
        train.length = 0;
        send("reset", {});
      }
      offset = chunk.offset;
      for (const row of chunk.rows) {
        if (row.type === "train") train.push(row);
        send("metric", row);
      }
    }
    const status = runStatus(ctx, id, dir, train);
    const text = JSON.stringify(status);
    if (text !== lastStatus) send("status", status);
    lastStatus = text;
  };
}

export function eventRoutes(ctx: UiContext): Route[] {
  return [
    {
      method: "GET",
      pattern: "/api/runs/:id/events",
      handle: ({ req, res, params }) => {
        const dir = runDir(ctx, params.id!);
        res.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          connection: "keep-alive",
        });
        const poll = follower(ctx, params.id!, dir, (event, data) =>
          res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
        );
        poll();
        const timer = setInterval(poll, POLL_MS);
        const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
        req.on("close", () => {
          clearInterval(timer);
          clearInterval(keepAlive);
        });
      },
    },
  ];
}

function safeRead<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}
