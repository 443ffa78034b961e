/**
 * llama.cpp as the judge (node-llama-cpp, pinned): loading its prebuilt CPU binary once (or the reason it cannot
 * load here, for a printed skip), greedy continuations with the probability of each chosen token from llama.cpp
 * and from loratune, and how far two continuations agree.
 */
import type { Llama, LlamaModel } from "node-llama-cpp";
import { getKernels } from "../../src/kernels/index.ts";
import { createSession, feedTokens } from "../../src/model/infer.ts";
import type { Model } from "../../src/model/model.ts";

let loading: Promise<Llama | string> | undefined;

/** llama.cpp's CPU build, or why it cannot load on this platform. Loaded once per process. */
export function loadLlamaCpp(): Promise<Llama | string> {
  loading ??= (async () => {
    try {
      const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
      return await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    } catch (err) {
      return `llama.cpp's prebuilt binary does not load on ${process.platform}-${process.arch}: ${(err as Error).message.split("\n")[0]}`;
    }
  })();
  return loading;
}

/** A greedy continuation: the tokens and the probability each had when it was chosen. */
export interface Greedy {
  ids: number[];
  probs: number[];
}

/** llama.cpp's greedy continuation of `prompt` (n tokens; end-of-generation tokens do not stop it). */
export async function llamaGreedy(
  model: LlamaModel,
  prompt: number[],
  n: number,
  o: { lora?: string; stopIds?: number[]; contextSize?: number } = {},
): Promise<Greedy> {
  const context = await model.createContext({
    contextSize: o.contextSize ?? 128,
    // One thread: llama.cpp's threads spin, and two of them on a busy 2-core machine take seconds per token.
    threads: 1,
    ...(o.lora ? { lora: { adapters: [{ filePath: o.lora, scale: 1 }] } } : {}),
  });
  const out: Greedy = { ids: [], probs: [] };
  try {
    const seq = context.getSequence();
    const tokens = prompt as Parameters<typeof seq.evaluateWithMetadata>[0];
    const gen = seq.evaluateWithMetadata(tokens, { confidence: true }, { temperature: 0, yieldEogToken: true });
    for await (const t of gen) {
      out.ids.push(t.token as number);
      out.probs.push(t.confidence);
      if (out.ids.length >= n || o.stopIds?.includes(t.token as number)) break;
    }
  } finally {
    await context.dispose();
  }
  return out;
}

/** loratune's greedy continuation of `prompt` (n tokens, or up to a stop id), with each token's probability. */
export function ourGreedy(model: Model, prompt: number[], n: number, stopIds: number[] = []): Greedy {
  const k = getKernels();
  const session = createSession(model, prompt.length + n);
  let logits = feedTokens(k, session, prompt);
  const out: Greedy = { ids: [], probs: [] };
  while (out.ids.length < n) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - logits[best]!);
    out.ids.push(best);
    out.probs.push(1 / sum);
    if (stopIds.includes(best) || out.ids.length >= n) break;
    logits = feedTokens(k, session, [best]);
  }
  return out;
}

/** Leading tokens two continuations share. */
export function agreeing(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Largest |p - q| over the shared leading tokens' probabilities. */
export function maxProbGap(a: Greedy, b: Greedy): number {
  const n = agreeing(a.ids, b.ids);
  let gap = 0;
  for (let i = 0; i < n; i++) gap = Math.max(gap, Math.abs(a.probs[i]! - b.probs[i]!));
  return gap;
}

/** A position where llama.cpp's token is not loratune's argmax. */
export interface Mismatch {
  at: number;
  theirs: number;
  ours: number;
  /** loratune's logit of its own choice minus that of llama.cpp's. */
  margin: number;
}

/**
 * Teacher-forced judgement of llama.cpp's greedy continuation `ids` of `prompt`: loratune is fed the same tokens,
 * and at every position llama.cpp's token must be loratune's argmax, or within `tie` of it in loratune's logits
 * (an exact tie up to f32 summation order, where either choice is greedy). Returns the positions that fail, and
 * the ties passed.
 */
export function judgeGreedy(
  model: Model,
  prompt: number[],
  ids: number[],
  tie = 1e-4,
): { mismatches: Mismatch[]; ties: Mismatch[] } {
  const k = getKernels();
  const session = createSession(model, prompt.length + ids.length);
  let logits = feedTokens(k, session, prompt);
  const mismatches: Mismatch[] = [];
  const ties: Mismatch[] = [];
  ids.forEach((theirs, at) => {
    let ours = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[ours]!) ours = i;
    const margin = logits[ours]! - logits[theirs]!;
    if (ours !== theirs) (margin <= tie ? ties : mismatches).push({ at, theirs, ours, margin });
    if (at < ids.length - 1) logits = feedTokens(k, session, [theirs]);
  });
  return { mismatches, ties };
}
