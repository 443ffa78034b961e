/**
 * llama.cpp as a column of the bench's decode rows: the same seeded random model written as GGUF in the row's
 * dtype (llama-gguf.ts, by a worker), loaded by node-llama-cpp (a development dependency, imported dynamically so
 * the published package, which does not have it, runs without), and decoded greedily at batch 1 on the same
 * threads: a prompt, then genTokens tokens, timed from the first generated token to the last; median of the runs.
 */
import type { ModelWorkloadSpec } from "./spec.ts";
import { median } from "./stats.ts";

/** The parts of node-llama-cpp's Llama the bench uses. */
interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<LlamaModelLike>;
}
interface LlamaModelLike {
  createContext(o: { contextSize: number; threads: number }): Promise<LlamaContextLike>;
  dispose(): Promise<void>;
}
interface LlamaContextLike {
  getSequence(): { evaluate(tokens: number[], o: { temperature: number }): AsyncIterable<unknown> };
  dispose(): Promise<void>;
}

export interface LlamaCppSetup {
  llama: LlamaLike;
  version: string;
}

/** node-llama-cpp's prebuilt CPU llama.cpp (never built here), or why it is not there. */
export async function probeLlamaCpp(): Promise<LlamaCppSetup | { unavailable: string }> {
  const name = "node-llama-cpp"; // a variable, so that type-checking the package needs no such module
  try {
    const mod = (await import(name)) as {
      getLlama(o: object): Promise<LlamaLike & { llamaCppRelease?: { release?: string } }>;
      LlamaLogLevel: { error: unknown };
    };
    const llama = await mod.getLlama({ gpu: false, build: "never", logLevel: mod.LlamaLogLevel.error });
    return { llama, version: llama.llamaCppRelease?.release ?? "unknown" };
  } catch (err) {
    return { unavailable: `node-llama-cpp did not load: ${(err as Error).message.split("\n")[0]}` };
  }
}

/** Milliseconds of genTokens greedy tokens after the prompt, in a fresh context. */
async function decodeOnce(model: LlamaModelLike, spec: ModelWorkloadSpec, threads: number): Promise<number> {
  const context = await model.createContext({ contextSize: spec.promptTokens + spec.genTokens + 8, threads });
  try {
    // The bench's prompt ids need not match loratune's: decode time does not depend on which tokens they are.
    const prompt = Array.from({ length: spec.promptTokens }, (_, i) => 259 + i);
    let n = 0;
    let start = 0;
    for await (const _ of context.getSequence().evaluate(prompt, { temperature: 0 })) {
      if (n === 0) start = performance.now(); // the first token ends the prompt's evaluation
      if (++n > spec.genTokens) break;
    }
    return performance.now() - start;
  } finally {
    await context.dispose();
  }
}

/** llama.cpp's decode tokens/s (median run) on the GGUF file at `path`. */
export async function runLlamaCppDecode(
  setup: LlamaCppSetup,
  path: string,
  spec: ModelWorkloadSpec,
  threads: number,
): Promise<{ tokensPerS: number; runMs: number[] }> {
  const model = await setup.llama.loadModel({ modelPath: path });
  try {
    for (let i = 0; i < spec.warmup; i++) await decodeOnce(model, spec, threads);
    const runMs: number[] = [];
    for (let i = 0; i < spec.steps; i++) runMs.push(await decodeOnce(model, spec, threads));
    return { tokensPerS: spec.genTokens / (median(runMs) / 1000), runMs };
  } finally {
    await model.dispose();
  }
}
