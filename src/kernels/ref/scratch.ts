/**
 * Module-level scratch buffers for the reference kernels, grown on demand and reused across calls so that no
 * kernel allocates inside its loops (or, after warm-up, at all). The kernels are synchronous and single-threaded,
 * so one buffer per purpose is enough; a kernel must not hold a scratch buffer across a call to another kernel
 * that uses the same slot.
 */

const slots: Float64Array[] = [];

/** An f64 scratch array of at least `n` elements for slot `slot` (contents unspecified). */
export function scratch64(slot: number, n: number): Float64Array {
  let buf = slots[slot];
  if (buf === undefined || buf.length < n) {
    buf = new Float64Array(Math.max(n, 64, buf === undefined ? 0 : buf.length * 2));
    slots[slot] = buf;
  }
  return buf;
}

/** Slot numbers, one per purpose, so that kernels calling helpers never share a buffer by accident. */
export const SLOT_ROW = 0; // one f64 output row (matmul, bias column sums)
export const SLOT_SCORES = 1; // attention scores / probabilities of one query row
export const SLOT_HEAD = 2; // one f64 head vector (attention output or dq accumulator)

const slots32: Float32Array[] = [];

/** An f32 scratch array of at least `n` elements for slot `slot` (contents unspecified). */
export function scratch32(slot: number, n: number): Float32Array {
  let buf = slots32[slot];
  if (buf === undefined || buf.length < n) {
    buf = new Float32Array(Math.max(n, 64, buf === undefined ? 0 : buf.length * 2));
    slots32[slot] = buf;
  }
  return buf;
}

export const SLOT32_PANEL = 0; // decoded bf16 weight rows (matmulNTBf16)
