/**
 * Reference rotary position embedding, rotate-half convention (as Hugging Face Llama): for each head vector v
 * of length hd = 2h, pair i < h rotates (v_i, v_{i+h}) by the angle θ(p, i) of the row's position p:
 *   v'_i = v_i·cos − v_{i+h}·sin,   v'_{i+h} = v_{i+h}·cos + v_i·sin.
 * The backward applies the transposed rotation (angle −θ). Tables cos/sin are [maxPos, h].
 */

/** Throws when a position id falls outside the tables (a typed-array read would silently give NaN). */
function checkPositions(pos: Int32Array, N: number, maxPos: number, headDim: number): void {
  if (headDim % 2 !== 0) throw new RangeError(`rope: headDim must be even (got ${headDim})`);
  for (let n = 0; n < N; n++) {
    const p = pos[n]!;
    if (p < 0 || p >= maxPos) {
      throw new RangeError(`rope: position id pos[${n}] = ${p} is outside the RoPE tables [0, ${maxPos})`);
    }
  }
}

/** Rotates every head of x[N, nHeads*hd] in place by angle sign·θ(pos[n], i). */
function rotate(
  x: Float32Array,
  pos: Int32Array,
  cos: Float32Array,
  sin: Float32Array,
  N: number,
  nHeads: number,
  headDim: number,
  sign: 1 | -1,
): void {
  const half = headDim / 2;
  checkPositions(pos, N, cos.length / half, headDim);
  const rowLen = nHeads * headDim;
  for (let n = 0; n < N; n++) {
    const t = pos[n]! * half;
    for (let h = 0; h < nHeads; h++) {
      const o = n * rowLen + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t + i]!;
        const s = sign * sin[t + i]!;
        const x1 = x[o + i]!;
        const x2 = x[o + i + half]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/** x[N, nHeads*hd] = rope(x), in place. */
export function ropeForward(
  x: Float32Array,
  pos: Int32Array,
  cos: Float32Array,
  sin: Float32Array,
  N: number,
  nHeads: number,
  headDim: number,
): void {
  rotate(x, pos, cos, sin, N, nHeads, headDim, 1);
}

/** dx[N, nHeads*hd] = ropeᵀ(dx), in place (the rotation is orthogonal, so its transpose is the inverse). */
export function ropeBackward(
  dx: Float32Array,
  pos: Int32Array,
  cos: Float32Array,
  sin: Float32Array,
  N: number,
  nHeads: number,
  headDim: number,
): void {
  rotate(dx, pos, cos, sin, N, nHeads, headDim, -1);
}
