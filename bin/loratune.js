#!/usr/bin/env node
// The loratune command: runs the TypeScript CLI through tsx's loader (no separate build step).
import { register } from "tsx/esm/api";

// A closed pipe (`loratune ... | head`) ends the program quietly instead of with a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
