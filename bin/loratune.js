#!/usr/bin/env node
// The loratune command. Installed from npm it runs the compiled CLI (dist/). In a checkout of the repository
// (src/ next to bin/, which the package does not ship) it runs the TypeScript sources through tsx, a development
// dependency, so edits take effect without a build step.
import { existsSync } from "node:fs";

// A closed pipe (`loratune ... | head`) ends the program quietly instead of with a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

/** The CLI's main(): from the sources in a checkout, else the compiled one. */
async function loadMain() {
  if (existsSync(new URL("../src/cli/main.ts", import.meta.url))) {
    const { register } = await import("tsx/esm/api").catch(() => {
      console.error("loratune: this is a checkout of loratune's sources; run 'npm install' first (it brings tsx)");
      process.exit(1);
    });
    register();
    return (await import("../src/cli/main.ts")).main;
  }
  return (await import("../dist/cli/main.js")).main;
}

const main = await loadMain();
process.exitCode = await main(process.argv);
