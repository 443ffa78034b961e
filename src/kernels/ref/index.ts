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
import { embeddingBackward } from "./embedding.ts";
import { matmulNN, matmulNT, matmulTN } from "./matmul.ts";
import { matvecWQ8 } from "./matvec-q8.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";
import { addMul, axpy, copy, firstNonFinite, mul, scale, sum, sumSquares, zero } from "./vector.ts";
import { embeddingWForward, matmulWNN, matmulWNT, weightFromF32, weightToF32 } from "./weights.ts";

export const refKernels: Kernels = {
  name: "ref",
  isa: "scalar",
  threads: 1,
  matmulNT,
  matmulNN,
  matmulTN,
  matmulWNT,
  matmulWNN,
  matvecWQ8,
  embeddingWForward,
  weightToF32,
  weightFromF32,
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
  embeddingBackward,
  crossEntropy,
  adamw,
  zero,
  copy,
  scale,
  axpy,
  mul,
  addMul,
  sumSquares,
  sum,
  firstNonFinite,
  bf16ToF32,
  f32ToBf16,
  f16ToF32,
  f32ToF16,
};
