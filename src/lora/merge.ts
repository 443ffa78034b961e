/**
 * Merging the attached adapters into the base weights (LoRA: W' = W + s·B·A), computed in f32 (weights in another
 * format, as bf16, are widened, updated, then encoded back by the kernels; quantized ones stay f32), refusing to write any non-finite value. Unmerge applies each method's
 * inverse. After merging, the model is a plain model: no adapter, no added inference latency.
 */
import { LoratuneError } from "../errors.ts";
import type { Kernels } from "../kernels/types.ts";
import type { Model } from "../model/model.ts";
import type { Linear } from "../nn/linear.ts";
import { F32, weightFormat } from "../tensor/formats/index.ts";
import { adaptedLinears, attachedAdapter } from "./adapter.ts";

/** Merges (sign +1) or unmerges (−1) each attached adapter into its weight; detaches the adapters when merging. */
export function mergeAdapter(k: Kernels, model: Model, sign: 1 | -1 = 1): number {
  const adapted = adaptedLinears(model);
  if (adapted.length === 0) throw new LoratuneError("ERR_USAGE", "there is no adapter attached to merge");
  // Check every module before changing any, so a refused merge leaves the model untouched.
  const updated = adapted.map((lin) => ({ lin, ...mergedWeight(k, lin, sign) }));
  for (const { lin, weight, bias } of updated) {
    if (weightFormat(lin.weight.dtype).quantized) {
      // A quantized base (--quantize, GGUF) merges into f32: dequantized W + s·B·A. Re-quantizing here would round
      // most of a small update away; a writer may still quantize the result on export.
      const wide = F32.alloc(weight.length);
      wide.set(weight);
      lin.weight.dtype = "f32";
      lin.weight.data = wide;
    } else k.weightFromF32(lin.weight.data, lin.weight.dtype, weight, weight.length);
    if (bias && lin.bias) lin.bias.set(bias);
    if (sign === 1) lin.adapter = null;
  }
  return adapted.length;
}

/** LoRA's name for mergeAdapter (the library API's). */
export const mergeLora = mergeAdapter;

/** The merged (or unmerged) weight and bias of one linear in f32; throws naming the module if any is not finite. */
function mergedWeight(k: Kernels, lin: Linear, sign: 1 | -1): { weight: Float32Array; bias: Float32Array | null } {
  const adapter = attachedAdapter(lin)!;
  const n = lin.outFeatures * lin.inFeatures;
  const w = new Float32Array(n);
  k.weightToF32(w, lin.weight.data, lin.weight.dtype, n);
  const bias = lin.bias ? Float32Array.from(lin.bias) : null;
  if (sign === 1) adapter.merge(k, w, bias, lin);
  else adapter.unmerge(k, w, bias, lin);
  const bad = k.firstNonFinite(w, n);
  if (bad >= 0) {
    throw new LoratuneError(
      "ERR_NONFINITE",
      `merging ${lin.name}: the merged weight at [${Math.floor(bad / lin.inFeatures)}, ${bad % lin.inFeatures}] is ${w[bad]}; refusing to write non-finite weights`,
    );
  }
  const badBias = bias ? k.firstNonFinite(bias, bias.length) : -1;
  if (bias && badBias >= 0) {
    throw new LoratuneError(
      "ERR_NONFINITE",
      `merging ${lin.name}: the merged bias at [${badBias}] is ${bias[badBias]}; refusing to write non-finite weights`,
    );
  }
  return { weight: w, bias };
}
