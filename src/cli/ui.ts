/**
 * `loratune ui`: the local web app (src/ui/). Prints the URL with its session token, serves until Ctrl-C, then
 * stops the runs it started (each writes a checkpoint first, resumable with `loratune train --resume`).
 */
import type { Command } from "commander";
import { validateOptions, withDefaults } from "../api/options.ts";
import { isLoopback, UI_OPTIONS } from "../ui/options.ts";
import { startUi } from "../ui/server.ts";
import { addOptions, givenValues } from "./options.ts";

export function registerUi(program: Command): void {
  const cmd = program
    .command("ui")
    .description(
      "a local web app: prepare and preview data, launch and watch runs, compare them, chat with the result",
    );
  addOptions(cmd, UI_OPTIONS);
  cmd.addHelpText(
    "after",
    `
Open the printed URL: it carries the session token that every request needs (the page keeps it in a cookie).
Pages: Runs (every run directory in the workspace, also those started with loratune train), New run (model, data
upload or path, data preview, the train settings with their defaults and a live memory/time estimate), a run's
live curves with Stop (checkpoint, then stop), Resume, Merge and Export (loratune merge / export), Compare, and a
Playground (base and adapted side by side).
Runs started here are ordinary run directories under WORKSPACE/runs/, trained by "loratune train" in a child
process: resume them from a shell with loratune train --resume, and the reverse. The JSON API the page uses is
documented in docs/ui-api.md of the repository.

Examples:
  loratune ui --workspace ~/tuning
  loratune ui --workspace . --port 0 --models ~/models/llama-3.2-1b`,
  );
  cmd.action(async () => {
    const o = withDefaults(UI_OPTIONS, validateOptions(UI_OPTIONS, givenValues(cmd, UI_OPTIONS)));
    const host = o.host as string;
    if (!isLoopback(host))
      console.error(
        `loratune ui: warning: listening on ${host}, not loopback: anyone who can reach it and has the token can read the workspace and start runs`,
      );
    const ui = await startUi({
      workspace: o.workspace as string,
      port: o.port as number,
      host,
      maxUploadBytes: (o["max-upload"] as number) * 2 ** 20,
      modelPaths: typeof o.models === "string" ? o.models.split(",").map((p) => p.trim()) : [],
    });
    console.log(`loratune ui: serving ${ui.context.workspace}\nopen ${ui.url}\n(Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        console.log("loratune ui: stopping (runs started here write a checkpoint first)…");
        void ui.close().then(resolve);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
  });
}
