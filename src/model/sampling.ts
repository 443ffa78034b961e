/**
 * Next-token sampling: greedy (temperature 0), temperature, top-k, top-p (nucleus) and repetition penalty
 * (CTRL-style, as Hugging Face applies it: positive logits divided, negative multiplied), from a seeded PRNG.
 */
export interface SamplingOptions {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
  repetitionPenalty: number; // 1 = off
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Picks the next token from logits [V] (modified in place by the penalty). `uniform` draws in [0, 1). */
export function sampleToken(
  logits: Float32Array,
  history: readonly number[],
  o: SamplingOptions,
  uniform: () => number,
): number {
  if (o.repetitionPenalty !== 1) {
    for (const id of new Set(history)) {
      const v = logits[id]!;
      logits[id] = v > 0 ? v / o.repetitionPenalty : v * o.repetitionPenalty;
    }
  }
  if (o.temperature <= 0) return argmax(logits);
  // Candidates sorted by logit, cut by top-k, then softmax with temperature, then cut by top-p.
  let order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
  if (o.topK > 0) order = order.slice(0, o.topK);
  const max = logits[order[0]!]!;
  const probs = order.map((id) => Math.exp((logits[id]! - max) / o.temperature));
  const total = probs.reduce((a, b) => a + b, 0);
  let keep = order.length;
  if (o.topP < 1) {
    let cum = 0;
    for (let i = 0; i < order.length; i++) {
      cum += probs[i]! / total;
      if (cum >= o.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  const kept = probs.slice(0, keep);
  const keptTotal = kept.reduce((a, b) => a + b, 0);
  let r = uniform() * keptTotal;
  for (let i = 0; i < keep; i++) {
    r -= kept[i]!;
    if (r <= 0) return order[i]!;
  }
  return order[keep - 1]!;
}
