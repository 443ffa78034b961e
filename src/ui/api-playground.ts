/**
 * POST /api/generate { run, adapted, prompt, chat?, max-tokens?, temperature?, top-p?, top-k?,
 * repetition-penalty?, seed? }: a completion by the run's base model (adapted: false) or the base with the run's
 * adapter (adapted: true), streamed as server-sent events:
 *   event: token  data: { text }            one per generated token ("" while a character is incomplete)
 *   event: done   data: { text, stoppedBy, tokensPerS }
 *   event: error  data: { error }           a failure after the stream began
 * Settings are checked with generate's table before the stream starts (400 in its wording). Closing the
 * connection stops generating.
 */
import { HttpError } from "../errors.ts";
import { JSON_LIMIT, runDir, type UiContext } from "./context.ts";
import { readJsonObject } from "./http.ts";
import { type ModelCache, samplingOptions, streamCompletion } from "./playground.ts";
import type { Route } from "./router.ts";
import { readSettings } from "./run-summary.ts";

export function playgroundRoutes(ctx: UiContext, models: ModelCache): Route[] {
  return [
    {
      method: "POST",
      pattern: "/api/generate",
      handle: async ({ req, res }) => {
        const body = await readJsonObject(req, JSON_LIMIT);
        if (typeof body.run !== "string") throw new HttpError(400, 'expected "run": a run id');
        if (typeof body.prompt !== "string" || body.prompt === "") throw new HttpError(400, 'expected "prompt": text');
        const dir = runDir(ctx, body.run);
        const model = readSettings(dir).model;
        if (typeof model !== "string") throw new HttpError(409, `${body.run} has no config.yaml naming its model`);
        const sampling = samplingOptions(body);
        // config.yaml's model, as readConfigFile gives it: an absolute path, or a name ("demo", "org/name", "ollama:…").
        const loaded = await models.get(model, dir, body.adapted === true);
        const abort = new AbortController();
        res.on("close", () => abort.abort());
        const stream = streamCompletion(loaded, body.prompt, body.chat === true, sampling, abort.signal);
        res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" });
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        try {
          for (;;) {
            const next = await stream.next();
            if (next.done) {
              const { text, stoppedBy, tokensPerS } = next.value;
              send("done", { text, stoppedBy, tokensPerS });
              break;
            }
            send("token", { text: next.value.text });
          }
        } catch (err) {
          if (!abort.signal.aborted) send("error", { error: err instanceof Error ? err.message : String(err) });
        }
        res.end();
      },
    },
  ];
}
