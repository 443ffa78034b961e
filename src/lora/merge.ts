/**
 * Merging LoRA into the base weights: W' = W + s·B·A, computed in f32 (bf16 weights are widened, updated, then
 * rounded back), refusing to write any non-finite value. Unmerge subtracts the same product.
 * After merging, the model is a plain model: no LoRA branch, no added inference latency.
 */
import { LoratuneError } from "../errors.ts";
import { bf16ToF32, f32ToBf16 } from "../io/dtype.ts";
import type { Kernels } from "../kernels/types.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";

/** Adds (sign +1) or subtracts (−1) s·B·A into each adapted weight; detaches LoRA when merging. */
export function mergeLora(k: Kernels, model: Model, sign: 1 | -1 = 1): number {
  const adapted = model.linears.filter((l) => l.lora);
  if (adapted.length === 0) throw new LoratuneError("ERR_USAGE", "there is no LoRA adapter attached to merge");
  // Check every module before changing any, so a refused merge leaves the model untouched.
  const updated = adapted.map((lin) => ({ lin, weight: mergedWeight(k, lin, sign) }));
  for (const { lin, weight } of updated) {
    if (lin.weight.dtype === "f32") (lin.weight.data as Float32Array).set(weight);
    else f32ToBf16(lin.weight.data as Uint16Array, weight, weight.length);
    if (sign === 1) lin.lora = null;
  }
  return adapted.length;
}

/** W ± s·B·A in f32 for one linear; throws naming the module if any value is not finite. */
function mergedWeight(k: Kernels, lin: Linear, sign: 1 | -1): Float32Array {
  const lora = lin.lora!;
  const n = lin.outFeatures * lin.inFeatures;
  const w = new Float32Array(n);
  if (lin.weight.dtype === "f32") w.set(lin.weight.data as Float32Array);
  else bf16ToF32(w, lin.weight.data as Uint16Array, n);
  const delta = new Float32Array(n);
  k.matmulNN(delta, lora.B, lora.A, lin.outFeatures, lin.inFeatures, lora.r, false); // [out, r]·[r, in]
  const s = sign * lora.scale;
  for (let i = 0; i < n; i++) {
    const v = w[i]! + s * delta[i]!;
    if (!Number.isFinite(v)) {
      throw new LoratuneError(
        "ERR_NONFINITE",
        `merging ${lin.name}: the merged weight at [${Math.floor(i / lin.inFeatures)}, ${i % lin.inFeatures}] is ${v}; refusing to write non-finite weights`,
      );
    }
    w[i] = v;
  }
  return w;
}
