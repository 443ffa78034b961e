/**
 * Autoregressive generation with the KV cache: prefill the prompt, then sample one token at a time until
 * max tokens or an end-of-sequence id.
 */

import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import { Rng } from "../tensor/rng.ts";
import { createSession, feedTokens } from "./infer.ts";
import type { Model } from "./model.ts";
import { GREEDY, type SamplingOptions, sampleToken } from "./sampling.ts";

export interface GenerateOptions extends Partial<SamplingOptions> {
  maxTokens: number;
  seed?: number;
  /** Generation stops after emitting one of these (it is included in the output). */
  stopIds?: number[];
  /** Called with each new token id as it is produced. */
  onToken?: (id: number) => void;
}

export interface GenerateResult {
  ids: number[];
  /** eos: a stop id was emitted; max_tokens: maxTokens were generated; context: the model's context is full. */
  stoppedBy: "eos" | "max_tokens" | "context";
  prefillSeconds: number;
  decodeSeconds: number;
}

export function generateTokens(k: Kernels, model: Model, prompt: number[], o: GenerateOptions): GenerateResult {
  const steps = generateSteps(k, model, prompt, o);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    o.onToken?.(next.value);
  }
}

/**
 * The same generation one token at a time: yields each new id as soon as it is sampled and returns how it
 * stopped. A caller may stop between tokens (`return()`); the time it spends between them is not counted.
 */
export function* generateSteps(
  k: Kernels,
  model: Model,
  prompt: number[],
  o: GenerateOptions,
): Generator<number, GenerateResult, void> {
  if (prompt.length === 0) throw new Error("generate: the prompt is empty");
  const sampling: SamplingOptions = {
    temperature: o.temperature ?? GREEDY.temperature,
    topK: o.topK ?? GREEDY.topK,
    topP: o.topP ?? GREEDY.topP,
    repetitionPenalty: o.repetitionPenalty ?? GREEDY.repetitionPenalty,
  };
  // Positions the rope tables cover: max_position_embeddings, or fewer when the model was loaded with fewer.
  const context = model.positions;
  if (prompt.length >= context) {
    const source =
      context < model.config.maxPositions
        ? `the ${context} positions it was loaded with (max_position_embeddings ${model.config.maxPositions})`
        : `max_position_embeddings = ${context}`;
    throw new LoratuneError(
      "ERR_USAGE",
      `the prompt has ${prompt.length} tokens, but the model's context holds the prompt and the generated tokens ` +
        `within ${source}: shorten the prompt`,
    );
  }
  const limit = Math.min(context, prompt.length + o.maxTokens);
  const session = createSession(model, limit);
  const rng = new Rng(o.seed ?? 0);
  const stop = new Set(o.stopIds ?? model.config.eosTokenIds);
  const history = [...prompt];
  const out: number[] = [];
  const t0 = performance.now();
  let logits = feedTokens(k, session, prompt);
  const prefillSeconds = (performance.now() - t0) / 1000;
  let decodeMs = 0;
  let stoppedBy: GenerateResult["stoppedBy"] = "max_tokens";
  // The prompt and the generated tokens together never exceed the model's context.
  while (out.length < o.maxTokens) {
    let t = performance.now();
    const id = sampleToken(logits, history, sampling, () => rng.next());
    out.push(id);
    history.push(id);
    decodeMs += performance.now() - t;
    yield id;
    if (stop.has(id)) {
      stoppedBy = "eos";
      break;
    }
    if (out.length >= o.maxTokens) break;
    if (prompt.length + out.length >= context) {
      stoppedBy = "context";
      break;
    }
    t = performance.now();
    logits = feedTokens(k, session, [id]);
    decodeMs += performance.now() - t;
  }
  return { ids: out, stoppedBy, prefillSeconds, decodeSeconds: decodeMs / 1000 };
}
