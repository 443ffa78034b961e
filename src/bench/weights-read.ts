/**
 * How fast this machine reads a model's own weights at this moment: one pass of the kernels' `sum` over the bytes of
 * every weight the model holds, taken as f32 words (their values do not matter: `sum` runs at the same rate on
 * denormals and NaNs), which is a decoded token's access without its arithmetic. The decode workload takes one pass
 * after each timed run, so its tokens/s can be put against the memory as it was then, side by side: on a VM whose
 * memory rate moves from one second to the next (a 2-core Zen 4: 35–65 GB/s read on 2 MiB pages), the run's best
 * bandwidth sample (bandwidth.ts) and a decode row measured minutes later are not.
 */
import type { Kernels } from "../kernels/types.ts";
import type { Model } from "../model/model.ts";

/**
 * f32 views over the bytes of each distinct weight of the model (a tied head shares its embedding's data: read
 * once). A weight whose data does not start on a 4-byte boundary is left out (weights start on cache lines where
 * the native addon is loaded; a buffer's tail of under 4 bytes is left out too).
 */
export function weightWords(model: Model): Float32Array[] {
  const seen = new Map<ArrayBufferLike, Set<number>>(); // buffer → the byte offsets already taken from it
  const out: Float32Array[] = [];
  for (const t of model.tensors.values()) {
    const d = t.data;
    const offsets = seen.get(d.buffer) ?? new Set<number>();
    if (offsets.has(d.byteOffset) || d.byteOffset % 4 !== 0 || d.byteLength < 4) continue;
    seen.set(d.buffer, offsets.add(d.byteOffset));
    out.push(new Float32Array(d.buffer, d.byteOffset, Math.floor(d.byteLength / 4)));
  }
  return out;
}

/** One read pass over `words` (weightWords) on the kernels' threads: GB/s (1e9 bytes/s), null when nothing to read. */
export function readWeightsGBs(k: Kernels, words: Float32Array[]): number | null {
  let bytes = 0;
  const t0 = performance.now();
  for (const w of words) {
    k.sum(w, w.length);
    bytes += w.byteLength;
  }
  const ms = performance.now() - t0;
  return bytes > 0 && ms > 0 ? bytes / ms / 1e6 : null;
}
