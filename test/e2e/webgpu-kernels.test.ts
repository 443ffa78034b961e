/**
 * The WebGPU kernels (src/kernels/webgpu) against the TypeScript reference kernels, run in headless Chromium on
 * SwiftShader's CPU adapter (test/helpers/webgpu/browser.ts), on odd shapes that leave partial tiles and
 * workgroups. The GPU accumulates in f32 where the reference accumulates in f64 and rounds once, so each
 * comparison states the bound of that difference. Without chromium or a WebGPU adapter the tests are skipped with
 * the reason.
 */
import assert from "node:assert/strict";
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

test("webgpu matmul with a bf16 weight matches the reference's matmulWNT and matmulWNN", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  for (const [layout, entry] of [
    ["NT", "matmulWNT"],
    ["NN", "matmulWNN"],
  ] as const) {
    for (const [M, N, K] of [
      [1, 7, 33],
      [17, 33, 70],
    ] as [number, number, number][]) {
      const { a, b, out0 } = matmulCase(layout, M, N, K, 77 + M + N + K);
      const w = new Uint16Array(N * K);
      ref.f32ToBf16(w, b, N * K);
      const wide = new Float32Array(N * K);
      ref.bf16ToF32(wide, w, N * K); // the weight's exact values, for the bound
      const want = out0.slice();
      ref[entry](want, a, w, "bf16", M, N, K, true);
      const bound = new Float32Array(M * N);
      ({ NT: ref.matmulNT, NN: ref.matmulNN })[layout](bound, abs(a), abs(wide), M, N, K, false);
      const got = await page!.run({
        op: `matmul${layout}`,
        f32: { out: list(out0), a: list(a) },
        u16: { b: Array.from(w) },
        scalars: { M, N, K, accumulate: 1, bf16: 1 },
        read: ["out"],
      });
      // Widening is exact, so the f32 matmul's bound holds as it is (accumulating: plus |out0|).
      const scale = bound.map((s, i) => (K + 2) * s + Math.abs(out0[i]!));
      assertScaledClose(`${entry} bf16 [${M},${N},${K}]`, got.out!, want, scale, U, 1e-30);
    }
  }
});

// ---------------------------------------------------------------- RMSNorm
// [N, C]: one element, a row shorter than a workgroup, rows crossing 256 (one and two strides).
const ROW_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 300],
  [2, 513],
];

/** ⌈C/256⌉ + 8: the terms an f32 row sum's rounding errors can gather (strided partials, then 8 tree levels). */
const rowSumTerms = (C: number) => Math.ceil(C / 256) + 8;

test("webgpu rmsnormForward matches the reference (out and the saved rstd)", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  for (const [N, C] of ROW_SHAPES) {
    const rand = rng(N * 100 + C);
    const x = randArray(rand, N * C, 3);
    const weight = randArray(rand, C);
    const want = new Float32Array(N * C);
    const rstd = new Float32Array(N);
    ref.rmsnormForward(want, rstd, x, weight, N, C, 1e-5);
    const got = await page!.run({
      op: "rmsnormForward",
      f32: { out: list(new Float32Array(N * C)), rstd: list(new Float32Array(N)), x: list(x), weight: list(weight) },
      scalars: { N, C, eps: 1e-5 },
      read: ["out", "rstd"],
    });
    // Σx² has only positive terms: relative error ≤ rowSumTerms·u; the mean, eps, sqrt and division add at most
    // 8 ulp (WGSL allows 2.5 ulp for a division, 2 for sqrt's inverseSqrt), and sqrt halves the sum's error.
    const rtolR = (rowSumTerms(C) + 8) * U;
    assertScaledClose(`rstd [${N},${C}]`, got.rstd!, rstd, abs(rstd), rtolR);
    // out = x·r·w: r's error plus two roundings.
    assertScaledClose(`out [${N},${C}]`, got.out!, want, abs(want), rtolR + 2 * U, 1e-30);
  }
});

test("webgpu rmsnormBackward matches the reference (dx, and dweight accumulated or frozen)", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  for (const [N, C] of ROW_SHAPES) {
    for (const frozen of [false, true]) {
      const rand = rng(N * 100 + C + 7);
      const x = randArray(rand, N * C, 3);
      const weight = randArray(rand, C);
      const dout = randArray(rand, N * C);
      const dw0 = randArray(rand, C);
      const rstd = new Float32Array(N);
      ref.rmsnormForward(new Float32Array(N * C), rstd, x, weight, N, C, 1e-5);
      const dx = new Float32Array(N * C);
      const dw = dw0.slice();
      ref.rmsnormBackward(dx, frozen ? null : dw, dout, x, weight, rstd, N, C);
      const f32: Record<string, number[]> = {
        dx: list(new Float32Array(N * C)),
        dout: list(dout),
        x: list(x),
        weight: list(weight),
        rstd: list(rstd),
      };
      if (!frozen) f32.dweight = list(dw0);
      const got = await page!.run({
        op: "rmsnormBackward",
        f32,
        scalars: { N, C },
        read: frozen ? ["dx"] : ["dx", "dweight"],
      });
      // dx_j = r·w_j·g_j − (r³/C)·x_j·S with S = Σ g·w·x summed in f32 (mixed signs: error ≤ rowSumTerms·u·Σ|gwx|)
      // and a few more roundings per term: bounded against |r·w_j·g_j| + (r³/C)·|x_j|·Σ|gwx|.
      const scale = new Float32Array(N * C);
      for (let n = 0; n < N; n++) {
        const r = rstd[n]!;
        let sAbs = 0;
        for (let c = 0; c < C; c++) sAbs += Math.abs(dout[n * C + c]! * weight[c]! * x[n * C + c]!);
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          scale[i] = Math.abs(r * weight[c]! * dout[i]!) + ((r * r * r) / C) * Math.abs(x[i]!) * sAbs;
        }
      }
      assertScaledClose(`dx [${N},${C}]`, got.dx!, dx, scale, (rowSumTerms(C) + 8) * U, 1e-30);
      if (frozen) continue;
      // dweight_c += Σ_n g·x·r, summed over the N rows in order: error ≤ (N + 3)·u·(|dw0| + Σ|g·x·r|).
      const dwScale = dw0.map((d, c) => {
        let s = Math.abs(d);
        for (let n = 0; n < N; n++) s += Math.abs(dout[n * C + c]! * x[n * C + c]! * rstd[n]!);
        return s;
      });
      assertScaledClose(`dweight [${N},${C}]`, got.dweight!, dw, dwScale, (N + 3) * U, 1e-30);
    }
  }
});

// ---------------------------------------------------------------- RoPE
test("webgpu ropeForward/ropeBackward match the reference; a position outside the tables is left alone", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const [N, nHeads, headDim, maxPos] = [7, 3, 10, 9];
  const half = headDim / 2;
  const rand = rng(42);
  const x = randArray(rand, N * nHeads * headDim, 2);
  const angles = Float32Array.from({ length: maxPos * half }, (_, i) => Math.floor(i / half) * 0.7 ** (i % half));
  const cos = angles.map(Math.cos);
  const sin = angles.map(Math.sin);
  const pos = Int32Array.from({ length: N }, (_, n) => (n * 5) % maxPos);
  // Each output is a·c ± b·s of the pair (a, b), |c|, |s| ≤ 1: two products and a sum, 3 roundings of |a| + |b|.
  const scale = x.map((_, i) => {
    const j = i % headDim;
    return Math.abs(x[i]!) + Math.abs(x[j < half ? i + half : i - half]!);
  });
  for (const op of ["ropeForward", "ropeBackward"] as const) {
    const want = x.slice();
    ref[op](want, pos, cos, sin, N, nHeads, headDim);
    const got = await page!.run({
      op,
      f32: { x: list(x), cos: list(cos), sin: list(sin) },
      i32: { pos: list(pos) },
      scalars: { N, nHeads, headDim, maxPos },
      read: ["x"],
    });
    assertScaledClose(op, got.x!, want, scale, 3 * U);
  }
  // A position outside the tables (refused on upload by checkPositions) leaves its row as it was.
  const bad = pos.slice();
  bad[2] = maxPos;
  const got = await page!.run({
    op: "ropeForward",
    f32: { x: list(x), cos: list(cos), sin: list(sin) },
    i32: { pos: list(bad) },
    scalars: { N, nHeads, headDim, maxPos },
    read: ["x"],
  });
  const rowLen = nHeads * headDim;
  assert.deepEqual(got.x!.slice(2 * rowLen, 3 * rowLen), list(x.slice(2 * rowLen, 3 * rowLen)));
});

// ---------------------------------------------------------------- SwiGLU
test("webgpu swigluForward/swigluBackward match the reference, including e^−g overflowing", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const n = 1000 + 37; // a partial workgroup
  const rand = rng(7);
  const gate = randArray(rand, n, 6);
  gate[0] = -100; // e^100 overflows f32: σ = 0
  gate[1] = 100;
  const up = randArray(rand, n);
  const dout = randArray(rand, n);
  const out = new Float32Array(n);
  ref.swigluForward(out, gate, up, n);
  const dgate = new Float32Array(n);
  const dup = new Float32Array(n);
  ref.swigluBackward(dgate, dup, dout, gate, up, n);
  const fwd = await page!.run({
    op: "swigluForward",
    f32: { out: list(out.map(() => 0)), gate: list(gate), up: list(up) },
    scalars: { n },
    read: ["out"],
  });
  const bwd = await page!.run({
    op: "swigluBackward",
    f32: {
      dgate: list(out.map(() => 0)),
      dup: list(out.map(() => 0)),
      dout: list(dout),
      gate: list(gate),
      up: list(up),
    },
    scalars: { n },
    read: ["dgate", "dup"],
  });
  // WGSL's exp(x) is good to 3 + 2·|x| ulp, and that relative error passes through 1/(1 + e^−g); the few other
  // operations add ≤ 5 ulp. The absolute floor 1e-37 allows a GPU that flushes subnormal results to zero.
  const rtol = Math.max(...gate.map((g) => 8 + 2 * Math.min(Math.abs(g), 88))) * U;
  assertScaledClose("swiglu out", fwd.out!, out, abs(out), rtol, 1e-37);
  assertScaledClose("swiglu dup", bwd.dup!, dup, abs(dup), rtol, 1e-37);
  // dgate = d·u·σ·(1 + g·(1 − σ)): besides the relative errors above, 1 − σ is off by up to u absolutely
  // (cancellation for large g), which g multiplies: bounded against |d·u·σ|·(1 + |g|·(1 − σ) + |g|), 4 ulp more.
  const dgScale = gate.map((g, i) => {
    const sig = 1 / (1 + Math.exp(-g));
    return Math.abs(dout[i]! * up[i]! * sig) * (1 + Math.abs(g) * (1 - sig) + Math.abs(g));
  });
  assertScaledClose("swiglu dgate", bwd.dgate!, dgate, dgScale, rtol + 4 * U, 1e-37);
});

// ---------------------------------------------------------------- cross-entropy
test("webgpu crossEntropy matches the reference (losses, dlogits, ignored rows, no-gradient variant)", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  // [N, V]: a one-word vocabulary, rows shorter than a workgroup, and rows crossing 256 four times.
  for (const [N, V] of [
    [4, 1],
    [5, 7],
    [3, 1000],
  ] as [number, number][]) {
    const rand = rng(N * 31 + V);
    const logits = randArray(rand, N * V, 4);
    const targets = Int32Array.from({ length: N }, (_, n) => (n === 1 ? -100 : Math.floor(rand() * V)));
    const gradScale = 0.37;
    const losses = new Float32Array(N);
    const dlogits = new Float32Array(N * V);
    ref.crossEntropy(losses, dlogits, logits, targets, N, V, gradScale);
    for (const grad of [true, false]) {
      const f32: Record<string, number[]> = { losses: list(new Float32Array(N).fill(9)), logits: list(logits) };
      if (grad) f32.dlogits = list(new Float32Array(N * V).fill(9));
      const got = await page!.run({
        op: "crossEntropy",
        f32,
        i32: { targets: list(targets) },
        scalars: { N, V, gradScale },
        read: grad ? ["losses", "dlogits"] : ["losses"],
      });
      // loss = m + log S − l_t. S (≥ 1) sums exps good to 3 + 2·|l − m| ulp (WGSL's exp), with rowSumTerms more
      // roundings; log adds 2⁻²¹ absolutely near 1 (WGSL) or 3 ulp; the two sums round |m|, |lse|, |l_t| once each.
      const lossTol = new Float32Array(N);
      const lseErr = new Float64Array(N);
      for (let n = 0; n < N; n++) {
        const row = logits.subarray(n * V, (n + 1) * V);
        const m = Math.max(...row);
        const range = m - Math.min(...row);
        const lse = m + Math.log(row.reduce((s, l) => s + Math.exp(l - m), 0));
        lseErr[n] = (rowSumTerms(V) + 6 + 2 * range) * U + 2 ** -21 + 2 * U * (Math.abs(m) + Math.abs(lse));
        lossTol[n] = lseErr[n]! + 2 * U * Math.abs(targets[n]! < 0 ? 0 : row[targets[n]!]!);
      }
      assertScaledClose(`losses [${N},${V}] grad=${grad}`, got.losses!, losses, lossTol, 1);
      if (!grad) continue;
      // dlogits_j = (e^{l_j − lse} − onehot)·s: p_j = e^{l_j − lse} carries lse's error and exp's (3 + 2·|l_j − lse|
      // ulp) relatively, then one subtraction and one product round.
      const dTol = dlogits.map((d, i) => {
        const n = Math.floor(i / V);
        if (targets[n] === -100) return 0;
        const p = d / gradScale + (i - n * V === targets[n] ? 1 : 0);
        const lse = logits[i]! - Math.log(p);
        return (
          gradScale * (p * (lseErr[n]! + (4 + 2 * Math.abs(logits[i]! - lse)) * U) + 2 * U * Math.abs(d / gradScale))
        );
      });
      assertScaledClose(`dlogits [${N},${V}]`, got.dlogits!, dlogits, dTol, 1, 1e-37);
    }
  }
});

// ---------------------------------------------------------------- AdamW
test("webgpu adamw matches the reference (first and a later step, with weight decay)", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const n = 1037;
  const rand = rng(11);
  const param = randArray(rand, n);
  const grad = randArray(rand, n, 0.1);
  const m0 = randArray(rand, n, 0.01);
  const v0 = randArray(rand, n, 1e-4).map(Math.abs);
  const [lr, beta1, beta2, eps, weightDecay] = [1e-3, 0.9, 0.999, 1e-8, 0.01];
  for (const step of [1, 7]) {
    const [p, m, v] = [param.slice(), m0.slice(), v0.slice()];
    ref.adamw(p, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step);
    const got = await page!.run({
      op: "adamw",
      f32: { param: list(param), grad: list(grad), m: list(m0), v: list(v0) },
      scalars: { n, lr, beta1, beta2, eps, weightDecay, step },
      read: ["param", "m", "v"],
    });
    // m and v: two products and a sum in f32, with β and 1 − β rounded to f32: 4 ulp of the terms' magnitudes.
    const mScale = m0.map((mi, i) => beta1 * Math.abs(mi) + (1 - beta1) * Math.abs(grad[i]!));
    const vScale = v0.map((vi, i) => beta2 * vi + (1 - beta2) * grad[i]! * grad[i]!);
    assertScaledClose(`adamw m step ${step}`, got.m!, m, mScale, 4 * U);
    assertScaledClose(`adamw v step ${step}`, got.v!, v, vScale, 4 * U);
    // param = p·decay − stepSize·m/(sqrt(v)/bc2 + eps): the update carries m's error (relative to mScale), v's
    // (halved by sqrt) and ≤ 10 ulp of rounded scalars, sqrt, division and product; the decayed p 3 ulp.
    const stepSize = lr / (1 - beta1 ** step);
    const bc2 = Math.sqrt(1 - beta2 ** step);
    const pScale = param.map((pi, i) => {
      const denom = Math.sqrt(v[i]!) / bc2 + eps;
      return Math.abs(pi) + (stepSize * (Math.abs(m[i]!) + mScale[i]!)) / denom;
    });
    assertScaledClose(`adamw param step ${step}`, got.param!, p, pScale, 10 * U);
  }
});

// ---------------------------------------------------------------- additions
test("webgpu addInPlace and addBias match the reference exactly; biasBackward within its f32 sum bound", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const rand = rng(5);
  const [M, N] = [37, 70];
  const out0 = randArray(rand, M * N);
  const a = randArray(rand, M * N);
  const bias = randArray(rand, N);
  // WGSL's f32 addition is correctly rounded, as the reference's f32 store of an f64 sum of two f32 values.
  const sum = out0.slice();
  ref.addInPlace(sum, a, M * N);
  const got = await page!.run({
    op: "addInPlace",
    f32: { out: list(out0), a: list(a) },
    scalars: { n: M * N },
    read: ["out"],
  });
  assert.deepEqual(got.out, list(sum));
  const biased = out0.slice();
  ref.addBias(biased, bias, M, N);
  const gotB = await page!.run({
    op: "addBias",
    f32: { out: list(out0), bias: list(bias) },
    scalars: { M, N },
    read: ["out"],
  });
  assert.deepEqual(gotB.out, list(biased));
  const db = bias.slice();
  ref.biasBackward(db, a, M, N);
  const gotD = await page!.run({
    op: "biasBackward",
    f32: { dbias: list(bias), dout: list(a) },
    scalars: { M, N },
    read: ["dbias"],
  });
  // M values summed in f32 in order, then added to dbias: (M + 1)·u·(|dbias| + Σ|dout|).
  const scale = bias.map((b, n) => {
    let s = Math.abs(b);
    for (let m = 0; m < M; m++) s += Math.abs(a[m * N + n]!);
    return s;
  });
  assertScaledClose("biasBackward", gotD.dbias!, db, scale, (M + 1) * U);
});

// ---------------------------------------------------------------- embedding
test("webgpu embedding forward (f32 and bf16 tables) and backward (repeated ids) match the reference exactly", async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const rand = rng(9);
  const [V, C, N] = [50, 33, 9];
  const ids = Int32Array.of(3, 49, 0, 3, 17, 3, 49, 8, 0);
  const table = randArray(rand, V * C);
  const bf16 = new Uint16Array(V * C);
  ref.f32ToBf16(bf16, table, V * C);
  for (const format of ["f32", "bf16"] as const) {
    const want = new Float32Array(N * C);
    ref.embeddingWForward(want, ids, format === "f32" ? table : bf16, format, N, C);
    const got = await page!.run({
      op: "embeddingForward",
      f32: { out: list(new Float32Array(N * C)), ...(format === "f32" ? { table: list(table) } : {}) },
      i32: { ids: list(ids) },
      ...(format === "bf16" ? { u16: { table: Array.from(bf16) } } : {}),
      scalars: { N, C, bf16: format === "bf16" ? 1 : 0 },
      read: ["out"],
    });
    assert.deepEqual(got.out, list(want), `embedding forward, ${format} table`);
  }
  // The backward adds each id's positions in increasing order, one f32 rounding each, as the reference does.
  const dout = randArray(rand, N * C);
  const dtable0 = randArray(rand, V * C);
  const dtable = dtable0.slice();
  ref.embeddingBackward(dtable, dout, ids, N, C);
  const got = await page!.run({
    op: "embeddingBackward",
    f32: { dtable: list(dtable0), dout: list(dout) },
    i32: { ids: list(ids) },
    scalars: { N, C, V },
    read: ["dtable"],
  });
  assert.deepEqual(got.dtable, list(dtable));
});
