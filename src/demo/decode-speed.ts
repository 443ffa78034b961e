/**
 * Decode speed of two models compared fairly (the demo's merged model against the base): the same prompt and the
 * same number of generated tokens for both (end-of-sequence ignored, so both decode over the same context
 * lengths), rounds interleaved so that both see the same machine load, and the median of each.
 */
import { median } from "../bench/stats.ts";
import type { Kernels } from "../kernels/types.ts";
import { generateTokens } from "../model/generate.ts";
import type { Model } from "../model/model.ts";

export interface DecodeSpeed {
  /** Median tokens/s of each model. */
  a: number;
  b: number;
  /** a / b. */
  ratio: number;
}

function tokensPerS(k: Kernels, model: Model, prompt: number[], tokens: number): number {
  const r = generateTokens(k, model, prompt, { maxTokens: tokens, stopIds: [] });
  return r.ids.length / Math.max(r.decodeSeconds, 1e-9);
}

export function compareDecodeSpeed(
  k: Kernels,
  a: Model,
  b: Model,
  prompt: number[],
  tokens = 64,
  rounds = 7,
): DecodeSpeed {
  tokensPerS(k, a, prompt, tokens); // warm-up
  tokensPerS(k, b, prompt, tokens);
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    sa.push(tokensPerS(k, a, prompt, tokens));
    sb.push(tokensPerS(k, b, prompt, tokens));
  }
  const ma = median(sa);
  const mb = median(sb);
  return { a: ma, b: mb, ratio: ma / mb };
}
