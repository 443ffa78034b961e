/**
 * Which product inference takes (src/nn/linear.ts): a one-row product with a block-format weight goes to
 * matvecWQ8 (the activation quantized to 8-bit blocks, as llama.cpp decodes), every other product to the exact
 * matmulWNT, and linearInfer adds the bias after either. Checked by recording the kernel entries called and by the
 * values each path gives.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { inferMatmulNT, type Linear, linearInfer } from "../../src/nn/linear.ts";
import { type StorageDType, weightFormat } from "../../src/tensor/formats/index.ts";
import type { StoredTensor } from "../../src/tensor/stored-tensor.ts";
import { randArray, rng } from "./kernels-native-helpers.ts";

/** refKernels, recording the names of matmulWNT and matvecWQ8 calls in `calls`. */
function recording(calls: string[]): Kernels {
  return {
    ...refKernels,
    matmulWNT: (...args: Parameters<Kernels["matmulWNT"]>) => {
      calls.push("matmulWNT");
      refKernels.matmulWNT(...args);
    },
    matvecWQ8: (...args: Parameters<Kernels["matvecWQ8"]>) => {
      calls.push("matvecWQ8");
      refKernels.matvecWQ8(...args);
    },
  };
}

function weight(dtype: StorageDType, N: number, K: number): StoredTensor {
  const f = weightFormat(dtype);
  const data = f.alloc(N * K);
  f.fromF32(data, 0, randArray(rng(3), N * K), N * K);
  return { dtype, shape: [N, K], data };
}

const [N, K] = [5, 256];

for (const [dtype, M, want] of [
  ["q8_0", 1, "matvecWQ8"],
  ["q4_k", 1, "matvecWQ8"],
  ["q6_k", 1, "matvecWQ8"],
  ["q4_k", 2, "matmulWNT"],
  ["q4_0", 1, "matvecWQ8"],
  ["q5_k", 1, "matvecWQ8"],
  ["f16", 1, "matmulWNT"],
  ["bf16", 1, "matmulWNT"],
  ["f32", 1, "matmulWNT"],
] as const) {
  test(`inferMatmulNT: ${M} row(s) on a ${dtype} weight take ${want}`, () => {
    const calls: string[] = [];
    const w = weight(dtype, N, K);
    const x = randArray(rng(4), M * K);
    const got = new Float32Array(M * N);
    inferMatmulNT(recording(calls), got, x, w, M, N, K);
    assert.deepEqual(calls, [want]);
    const expected = new Float32Array(M * N);
    if (want === "matvecWQ8") refKernels.matvecWQ8(expected, x, w.data, dtype, N, K, false);
    else refKernels.matmulWNT(expected, x, w.data, dtype, M, N, K, false);
    assert.deepEqual(got, expected);
  });
}

test("linearInfer: the quantized one-row product, then the bias", () => {
  const calls: string[] = [];
  const bias = randArray(rng(5), N);
  const lin: Linear = {
    name: "model.layers.0.mlp.up_proj",
    inFeatures: K,
    outFeatures: N,
    weight: weight("q4_k", N, K),
    bias,
    dWeight: null,
    dBias: null,
    adapter: null,
  };
  const x = randArray(rng(6), K);
  const y = new Float32Array(N);
  linearInfer(recording(calls), y, x, lin, 1, null);
  assert.deepEqual(calls, ["matvecWQ8"]);
  const want = new Float32Array(N);
  refKernels.matvecWQ8(want, x, lin.weight.data, "q4_k", N, K, false);
  refKernels.addBias(want, bias, 1, N);
  assert.deepEqual(y, want);
});
