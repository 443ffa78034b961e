/**
 * Autoregressive generation with the KV cache: prefill the prompt, then sample one token at a time until
 * max tokens or an end-of-sequence id.
 */
import { Rng } from "../data/rng.ts";
import type { Kernels } from "../kernels/types.ts";
import { createSession, feedTokens } from "./infer.ts";
import type { LlamaModel } from "./llama.ts";
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
  stoppedBy: "eos" | "max_tokens";
  prefillSeconds: number;
  decodeSeconds: number;
}

export function generateTokens(k: Kernels, model: LlamaModel, prompt: number[], o: GenerateOptions): GenerateResult {
  if (prompt.length === 0) throw new Error("generate: the prompt is empty");
  const sampling: SamplingOptions = {
    temperature: o.temperature ?? GREEDY.temperature,
    topK: o.topK ?? GREEDY.topK,
    topP: o.topP ?? GREEDY.topP,
    repetitionPenalty: o.repetitionPenalty ?? GREEDY.repetitionPenalty,
  };
  const limit = Math.min(model.rope.maxPositions, prompt.length + o.maxTokens);
  const session = createSession(model, limit);
  const rng = new Rng(o.seed ?? 0);
  const stop = new Set(o.stopIds ?? model.config.eosTokenIds);
  const history = [...prompt];
  const out: number[] = [];
  const t0 = performance.now();
  let logits = feedTokens(k, session, prompt);
  const t1 = performance.now();
  let stoppedBy: GenerateResult["stoppedBy"] = "max_tokens";
  while (out.length < o.maxTokens && session.length < limit) {
    const id = sampleToken(logits, history, sampling, () => rng.next());
    out.push(id);
    history.push(id);
    o.onToken?.(id);
    if (stop.has(id)) {
      stoppedBy = "eos";
      break;
    }
    if (out.length >= o.maxTokens || session.length >= limit) break;
    logits = feedTokens(k, session, [id]);
  }
  const t2 = performance.now();
  return { ids: out, stoppedBy, prefillSeconds: (t1 - t0) / 1000, decodeSeconds: (t2 - t1) / 1000 };
}
