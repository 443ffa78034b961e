/**
 * Bench worker process: `node dist/bench/worker.js '<WorkerSpec JSON>'` (from the sources:
 * `node --import tsx src/bench/worker.ts ...`) runs one measurement and
 * prints its result as one JSON line on stdout (the last line; anything else goes to stderr). Exit 1 on error:
 * a LoratuneError as the JSON line {"kind": "error", code, message}, anything else with its stack on stderr. A process per workload keeps each peak RSS to that workload alone.
 */
import { isLoratuneError } from "../errors.ts";
import { getKernels } from "../kernels/index.ts";
import { runSpec } from "./run-spec.ts";
import type { WorkerSpec } from "./spec.ts";

function main(): void {
  const arg = process.argv[2];
  if (!arg) throw new Error("usage: worker.ts '<WorkerSpec JSON>'");
  const spec = JSON.parse(arg) as WorkerSpec;
  const result = runSpec(getKernels(), spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  main();
} catch (err) {
  // A LoratuneError (a refused workload, say) is the row's answer: its code and message as the JSON line, so the
  // report names it. Anything else is a bug: its stack on stderr.
  if (isLoratuneError(err)) {
    process.stdout.write(`${JSON.stringify({ kind: "error", code: err.code, message: err.message })}\n`);
  } else process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
