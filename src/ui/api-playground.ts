/**
 * POST /api/generate { run, adapted, prompt, chat?, history?, max-tokens?, temperature?, top-p?, top-k?,
 * repetition-penalty?, seed? }: a completion by the run's base model (adapted: false) or the base with the run's
 * adapter (adapted: true); with chat, `prompt` is the next user turn after `history` ([{role, content}]), rendered
 * with the chat template. Streamed as server-sent events:
 *   event: token  data: { text }            one per generated token ("" while a character is incomplete)
 *   event: done   data: { text, stoppedBy, tokensPerS }
 *   event: error  data: { error }           a failure after the stream began
 * Settings are checked with generate's table, and the first token is made, before the stream starts (so a refusal is
 * a plain 400 in generate's wording). Closing the connection stops generating.
 */
import { HttpError } from "../errors.ts";
import { JSON_LIMIT, runDir, type UiContext } from "./context.ts";
import { readJsonObject } from "./http.ts";
import { chatHistory, type ModelCache, samplingOptions, streamCompletion } from "./playground.ts";
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
        const history = chatHistory(body.history);
        // config.yaml's model, as readConfigFile gives it: an absolute path, or a name ("demo", "org/name", "ollama:…").
        const loaded = await models.get(model, dir, body.adapted === true);
        const abort = new AbortController();
        res.on("close", () => abort.abort());
        const stream = streamCompletion(loaded, body.prompt, body.chat === true, history, sampling, abort.signal);
        let next = await stream.next();
        res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" });
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        try {
          for (; ; next = await stream.next()) {
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
