/**
 * llama.cpp's side of the bench, run inside the llama.cpp child process (llama-worker.ts), never in the bench's
 * own process or a loratune worker, so that llama.cpp's threads share the CPU with no loratune thread pool: the
 * same seeded random model written as GGUF in the row's dtype (llama-gguf.ts, by a loratune worker), loaded by
 * node-llama-cpp (a development dependency, imported dynamically so the published package, which does not have it,
 * runs without), on the same number of threads as loratune's kernels.
 * - prefill: B sequences of T tokens, one after another in one context (its history cleared between them), each
 *   evaluated as llama.cpp evaluates a prompt: logits of the last token only (llama-bench's `pp`); tokens/s =
 *   B·T / run time.
 * - decode: a prompt, then genTokens greedy tokens at batch 1, timed from the first generated token to the last;
 *   tokens/s = genTokens / decode time.
 * Median of `steps` timed runs after `warmup` untimed ones, as the loratune workers report.
 */
import { median, peakRssMiB, startContentionMeter } from "./stats.ts";

/** What the bench asks the llama.cpp child: load only (its release), or one workload on a GGUF file. */
export type LlamaCppSpec =
  | { kind: "llama-probe"; threads: number }
  | {
      kind: "llama-run";
      workload: "prefill" | "decode";
      path: string;
      threads: number;
      /** Prompt token ids are drawn below this (the model's vocabulary size). */
      vocabSize: number;
      B: number;
      T: number;
      promptTokens: number;
      genTokens: number;
      steps: number;
      warmup: number;
    };

/** The child's answer (its last stdout line). */
export type LlamaCppAnswer =
  | { kind: "llama-probe"; version: string }
  | LlamaCppRun
  | { kind: "llama-unavailable"; reason: string };

export interface LlamaCppRun {
  kind: "llama-run";
  version: string;
  /** The child's process id: never the bench's own (the test checks it). */
  pid: number;
  tokensPerS: number;
  runMs: number[];
  peakRssMiB: number;
  /** CPU cores other processes used during the timed runs (null off Linux or for short runs). */
  otherProcsCores: number | null;
}

/** The parts of node-llama-cpp's Llama the bench uses. */
interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<LlamaModelLike>;
  llamaCppRelease?: { release?: string };
}
interface LlamaModelLike {
  createContext(o: { contextSize: number; threads: number }): Promise<LlamaContextLike>;
  dispose(): Promise<void>;
}
interface SequenceLike {
  evaluate(tokens: number[], o: { temperature: number }): AsyncIterable<unknown>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  clearHistory(): Promise<void>;
}
interface LlamaContextLike {
  getSequence(): SequenceLike;
  dispose(): Promise<void>;
}

export interface LlamaCppSetup {
  llama: LlamaLike;
  version: string;
}

/**
 * node-llama-cpp's prebuilt CPU llama.cpp (never built here) limited to `threads`, or why it is not there.
 * `name` is the module imported (a variable, so that type-checking the package needs no such module; a test
 * names one that is not installed).
 */
export async function loadLlamaCpp(
  threads: number,
  name = "node-llama-cpp",
): Promise<LlamaCppSetup | { unavailable: string }> {
  try {
    const mod = (await import(name)) as {
      getLlama(o: object): Promise<LlamaLike>;
      LlamaLogLevel: { error: unknown };
    };
    const llama = await mod.getLlama({
      gpu: false,
      build: "never",
      logLevel: mod.LlamaLogLevel.error,
      maxThreads: threads,
    });
    return { llama, version: llama.llamaCppRelease?.release ?? "unknown" };
  } catch (err) {
    return { unavailable: `${name} did not load: ${(err as Error).message.split("\n")[0]}` };
  }
}

type RunSpec = Extract<LlamaCppSpec, { kind: "llama-run" }>;

/** `n` token ids from 259 up (past the placeholder vocabulary's specials and byte pieces), varied by `row`. */
export function promptIds(n: number, row: number, vocabSize: number): number[] {
  const span = vocabSize - 259;
  return Array.from({ length: n }, (_, i) => 259 + ((i * 7919 + row * 104729) % span));
}

/** Milliseconds to evaluate B prompts of T tokens (logits of each prompt's last token), one after another. */
async function prefillOnce(sequence: SequenceLike, spec: RunSpec): Promise<number> {
  let ms = 0;
  for (let row = 0; row < spec.B; row++) {
    const tokens = promptIds(spec.T, row, spec.vocabSize);
    const start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    ms += performance.now() - start;
    await sequence.clearHistory();
  }
  return ms;
}

/** Milliseconds of genTokens greedy tokens after the prompt. */
async function decodeOnce(sequence: SequenceLike, spec: RunSpec): Promise<number> {
  // Decode time does not depend on which tokens the prompt holds.
  const prompt = promptIds(spec.promptTokens, 0, spec.vocabSize);
  let n = 0;
  let start = 0;
  for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
    if (n === 0) start = performance.now(); // the first token ends the prompt's evaluation
    if (++n > spec.genTokens) break;
  }
  const ms = performance.now() - start;
  await sequence.clearHistory();
  return ms;
}

/** One workload on the GGUF file at spec.path: llama.cpp's tokens/s (median run) and its process's figures. */
export async function runLlamaCpp(setup: LlamaCppSetup, spec: RunSpec): Promise<LlamaCppRun> {
  const model = await setup.llama.loadModel({ modelPath: spec.path });
  try {
    const contextSize = spec.workload === "prefill" ? spec.T : spec.promptTokens + spec.genTokens + 8;
    const context = await model.createContext({ contextSize, threads: spec.threads });
    try {
      // The context's one sequence, its history cleared after every run (a context hands each sequence out once).
      const sequence = context.getSequence();
      const once = spec.workload === "prefill" ? prefillOnce : decodeOnce;
      for (let i = 0; i < spec.warmup; i++) await once(sequence, spec);
      const meter = startContentionMeter();
      const runMs: number[] = [];
      for (let i = 0; i < spec.steps; i++) runMs.push(await once(sequence, spec));
      const otherProcsCores = meter();
      const tokens = spec.workload === "prefill" ? spec.B * spec.T : spec.genTokens;
      return {
        kind: "llama-run",
        version: setup.version,
        pid: process.pid,
        tokensPerS: tokens / (median(runMs) / 1000),
        runMs,
        peakRssMiB: peakRssMiB(),
        otherProcsCores,
      };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}
