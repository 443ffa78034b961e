/**
 * RoPE cos/sin tables [maxPositions, headDim/2] for the rotate-half convention:
 * angle(p, i) = p · inv_freq[i], inv_freq[i] = 1 / theta^(2i/headDim), with Llama-3, linear or LongRoPE frequency
 * scaling (LongRoPE also scales cos and sin by its attention factor). headDim is the rotated width (Phi-3's
 * partial_rotary_factor rotates only the first dims of each head).
 * Values are rounded through f32 at the same points as the PyTorch reference.
 */

/** Frequency scaling of RoPE from config.json's rope_scaling (or rope_parameters). */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | LongRopeScaling;

/**
 * LongRoPE (Phi-3 "longrope"): inv_freq[i] = 1 / (extFactors[i] · theta^(2i/dim)), and cos/sin times
 * attentionFactor. extFactors are the config's short_factor or long_factor, as the model's context needs.
 */
export interface LongRopeScaling {
  type: "longrope";
  /** [dim/2] the chosen short_factor or long_factor. */
  extFactors: readonly number[];
  attentionFactor: number;
}

export interface RopeTables {
  cos: Float32Array; // [maxPositions, headDim/2]
  sin: Float32Array; // [maxPositions, headDim/2]
  maxPositions: number;
}

export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | null): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
  if (scaling === null) return inv;
  if (scaling.type === "longrope") {
    const ext = scaling.extFactors;
    return inv.map((_, i) =>
      Math.fround(1 / Math.fround(ext[i]! * Math.fround(theta ** Math.fround((2 * i) / headDim)))),
    );
  }
  if (scaling.type === "linear") return inv.map((f) => Math.fround(f / scaling.factor));
  const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = scaling;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < old / hi) return f;
    if (wavelen > old / lo) return Math.fround(f / factor);
    const smooth = (old / wavelen - lo) / (hi - lo);
    return Math.fround((1 - smooth) * (f / factor) + smooth * f);
  });
}

/**
 * Llama-3 RoPE scaling as llama.cpp's `rope_freqs` tensor [headDim/2]: the factor each inverse frequency is
 * divided by (the plain inverse frequency over the scaled one), rounded to f32.
 */
export function ropeFreqFactors(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const plain = ropeInvFreq(headDim, theta, null);
  const scaled = ropeInvFreq(headDim, theta, scaling);
  return Float32Array.from(plain, (f, i) => f / scaled[i]!);
}

export function buildRopeTables(
  headDim: number,
  theta: number,
  scaling: RopeScaling | null,
  maxPositions: number,
): RopeTables {
  const half = headDim / 2;
  const inv = ropeInvFreq(headDim, theta, scaling);
  const mul = scaling?.type === "longrope" ? scaling.attentionFactor : 1;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]!);
      cos[p * half + i] = Math.fround(Math.cos(angle)) * mul;
      sin[p * half + i] = Math.fround(Math.sin(angle)) * mul;
    }
  }
  return { cos, sin, maxPositions };
}
