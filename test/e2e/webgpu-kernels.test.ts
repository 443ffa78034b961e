/**
 * The WebGPU kernels (src/kernels/webgpu) against the TypeScript reference kernels, run in headless Chromium on
 * SwiftShader's CPU adapter (test/helpers/webgpu/browser.ts), on odd shapes that leave partial tiles and
 * workgroups. The GPU accumulates in f32 where the reference accumulates in f64 and rounds once, so each
 * comparison states the bound of that difference. Without chromium or a WebGPU adapter the tests are skipped with
 * the reason.
 */
import { after, before, test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { openWebGpuPage, type WebGpuPage } from "../helpers/webgpu/browser.ts";
import { abs, assertScaledClose, randArray, rng } from "../unit/kernels-native-helpers.ts";

/** f32 unit roundoff, 2⁻²⁴. */
const U = 2 ** -24;

let page: WebGpuPage | undefined;
let skip: string | undefined;
before(async () => {
  const opened = await openWebGpuPage();
  if (typeof opened === "string") {
    skip = opened;
    console.log(`# webgpu-kernels.test.ts skipped: ${skip}`);
  } else page = opened;
});
after(() => page?.close());

const list = (a: Float32Array | Int32Array): number[] => Array.from(a);

// ---------------------------------------------------------------- matmul
// [M, N, K]: one row, one column, partial 16-tiles on every side, K below, across and well past one tile.
const MATMUL_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [7, 1, 5],
  [17, 33, 70],
  [33, 19, 16],
  [40, 65, 129],
];

/** a, b and the reference for one layout: shapes of a and b as the Kernels interface gives them. */
function matmulCase(layout: "NT" | "NN" | "TN", M: number, N: number, K: number, seed: number) {
  const rand = rng(seed);
  const a = randArray(rand, M * K);
  const b = randArray(rand, N * K);
  const out0 = randArray(rand, M * N);
  // Σ_k |a||b| per element: the same product on absolute values.
  const bound = new Float32Array(M * N);
  const fn = { NT: ref.matmulNT, NN: ref.matmulNN, TN: ref.matmulTN }[layout];
  fn(bound, abs(a), abs(b), M, N, K, false);
  return { a, b, out0, bound, fn };
}

for (const layout of ["NT", "NN", "TN"] as const) {
  test(`webgpu matmul${layout} matches the reference on odd shapes, overwriting and accumulating`, async (t) => {
    if (skip !== undefined) return t.skip(skip);
    for (const [M, N, K] of MATMUL_SHAPES) {
      for (const accumulate of [false, true]) {
        const { a, b, out0, bound, fn } = matmulCase(layout, M, N, K, M * 1000 + N * 10 + K);
        const want = out0.slice();
        fn(want, a, b, M, N, K, accumulate);
        const got = await page!.run({
          op: `matmul${layout}`,
          f32: { out: list(out0), a: list(a), b: list(b) },
          scalars: { M, N, K, accumulate: accumulate ? 1 : 0 },
          read: ["out"],
        });
        // Sequential f32 accumulation of K products errs by at most γ_K·Σ|a||b| ≈ K·u·Σ|a||b| against the exact
        // sum (Higham 3.1, with or without fused multiply-adds); the reference's own error is u·|sum|, and the
        // accumulate adds one rounding of the sum |out0 + Σ| ≤ |out0| + Σ|a||b|.
        const scale = bound.map((s, i) => (K + 2) * s + (accumulate ? Math.abs(out0[i]!) : 0));
        assertScaledClose(`matmul${layout} [${M},${N},${K}] acc=${accumulate}`, got.out!, want, scale, U, 1e-30);
      }
    }
  });
}
