/**
 * Llama-3 RoPE scaling recovered from llama.cpp's `rope_freqs` tensor (the inverse of ropeFreqFactors), so that a
 * GGUF base computes with the rope_scaling its Hugging Face config.json had.
 *
 * The factors [hd/2] are 1 for high frequencies (wavelength < old/hi), `factor` for low ones (wavelength > old/lo)
 * and 1/((1-s)/factor + s) in between, with s = (old/wavelength - lo)/(hi - lo). Only old/lo and hi/lo show in the
 * factors, so lo is taken as 1 (every Llama 3.x release) and old and hi are solved from the in-between factors
 * (hi = 4, Llama 3's, when there are fewer than two of them; old within the gap between the two bands when there
 * are none). Every candidate is checked by recomputing the factors: one is accepted only when all of them come back
 * bit for bit.
 */
import { type RopeScaling, ropeFreqFactors, ropeInvFreq } from "./rope-tables.ts";

type Llama3 = Extract<RopeScaling, { type: "llama3" }>;

/**
 * The scaling that reproduces `factors` exactly: null when every factor is 1 (plain RoPE), undefined when no
 * Llama-3 scaling reproduces them.
 */
export function llama3ScalingFromFactors(
  headDim: number,
  theta: number,
  factors: Float32Array,
): Llama3 | null | undefined {
  if (factors.length !== headDim / 2) return undefined;
  if (factors.every((v) => v === 1)) return null;
  const plain = ropeInvFreq(headDim, theta, null);
  const wavelength = Array.from(plain, (f) => (2 * Math.PI) / f);
  const max = factors.reduce((a, b) => Math.max(a, b), 1);
  for (const factor of nearby(max)) {
    const middle = [...factors.keys()].filter(
      (i) => factors[i] !== 1 && Math.abs(factors[i]! - factor) > 1e-6 * factor,
    );
    const s = middle.map((i) => (1 / factors[i]! - 1 / factor) / (1 - 1 / factor));
    for (const [hi, old] of bands(wavelength, factors, middle, s)) {
      for (const h of nearby(hi)) {
        for (const o of nearby(old)) {
          const c: Llama3 = { type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: h, originalMaxPositions: o };
          if (h > 1 && o > 0 && sameBits(ropeFreqFactors(headDim, theta, c), factors)) return c;
        }
      }
    }
  }
  return undefined;
}

/** x and the round numbers near it (integers, then 3 and 6 decimals), most likely first. */
function nearby(x: number): number[] {
  return [...new Set([Math.round(x), Math.round(x * 1e3) / 1e3, Math.round(x * 1e6) / 1e6, x])];
}

/** Candidate (hi, old) pairs (lo = 1) from the in-between factors `middle` (with their s values). */
function bands(wl: number[], factors: Float32Array, middle: number[], s: number[]): [number, number][] {
  if (middle.length >= 2) {
    const [i, j] = [0, middle.length - 1];
    const [wi, wj] = [wl[middle[i]!]!, wl[middle[j]!]!];
    const hiMinus1 = (wj - wi) / (wi * s[i]! - wj * s[j]!);
    return [[hiMinus1 + 1, wi * (s[i]! * hiMinus1 + 1)]];
  }
  if (middle.length === 1) return [[4, wl[middle[0]!]! * (3 * s[0]! + 1)]];
  // No factor in between: old/4 lies above the last unscaled wavelength, old below the first scaled one.
  const lastPlain = [...factors.keys()].filter((i) => factors[i] === 1).at(-1);
  const firstScaled = [...factors.keys()].find((i) => factors[i] !== 1)!;
  const low = lastPlain === undefined ? 0 : 4 * wl[lastPlain]!;
  const high = wl[firstScaled]!;
  const out: [number, number][] = [];
  for (let p = 1; p < 2 ** 30; p *= 2) if (p > low && p < high) out.push([4, p]);
  out.push([4, (low + high) / 2]);
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
