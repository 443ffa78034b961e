/**
 * The llama.cpp child process of the bench: `node dist/bench/llama-worker.js '<LlamaCppSpec JSON>'` (from the
 * sources: `node --import tsx src/bench/llama-worker.ts ...`) loads node-llama-cpp, runs one llama.cpp workload
 * (or only loads, for the release) and prints its answer as one JSON line on stdout (the last line). It never loads
 * loratune's kernels, so no loratune thread pool shares the CPU with llama.cpp's threads. node-llama-cpp that does
 * not load is an answer ({"kind": "llama-unavailable", reason}, exit 0): the bench reports the column as not
 * compared, saying why. Anything else that fails exits 1 with its message on stderr.
 */
import { type LlamaCppAnswer, type LlamaCppSpec, loadLlamaCpp, runLlamaCpp } from "./llama-cpp.ts";

async function answer(spec: LlamaCppSpec): Promise<LlamaCppAnswer> {
  const setup = await loadLlamaCpp(spec.threads);
  if ("unavailable" in setup) return { kind: "llama-unavailable", reason: setup.unavailable };
  if (spec.kind === "llama-probe") return { kind: "llama-probe", version: setup.version };
  return runLlamaCpp(setup, spec);
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error("usage: llama-worker.ts '<LlamaCppSpec JSON>'");
  process.stdout.write(`${JSON.stringify(await answer(JSON.parse(arg) as LlamaCppSpec))}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
