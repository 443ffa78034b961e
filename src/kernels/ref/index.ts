/**
 * The reference (plain TypeScript) implementation of Kernels: the oracle every other backend is tested against,
 * and the fallback when the native addon is unavailable. Single-threaded, scalar, f64 accumulation throughout.
 */
import type { Kernels } from "../types.ts";
import { adamw } from "./adamw.ts";
import { attentionBackward, attentionForward, attentionKV } from "./attention.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./convert.ts";
import { crossEntropy } from "./cross-entropy.ts";
import { addBias, addInPlace, biasBackward } from "./elementwise.ts";
import { embeddingBackward, embeddingForward, embeddingForwardBf16 } from "./embedding.ts";
import { matmulNN, matmulNNBf16, matmulNT, matmulNTBf16, matmulTN } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";

export const refKernels: Kernels = {
  name: "ref",
  isa: "scalar",
  threads: 1,
  matmulNT,
  matmulNN,
  matmulTN,
  matmulNTBf16,
  matmulNNBf16,
  addInPlace,
  addBias,
  biasBackward,
  rmsnormForward,
  rmsnormBackward,
  ropeForward,
  ropeBackward,
  attentionForward,
  attentionBackward,
  attentionKV,
  swigluForward,
  swigluBackward,
  embeddingForward,
  embeddingForwardBf16,
  embeddingBackward,
  crossEntropy,
  adamw,
  bf16ToF32,
  f32ToBf16,
  f16ToF32,
  f32ToF16,
};
