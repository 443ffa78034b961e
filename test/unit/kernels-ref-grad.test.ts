/**
 * Finite-difference checks of every non-attention backward of the reference kernels, each on the random scalar
 * projection L = Σ w·out (central differences on f32 inputs, loss summed in f64), plus forward formulas and the
 * documented aliasing / accumulation contracts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { assertClose, fdCheck, project, randArray, rng } from "./kernels-ref-helpers.ts";

test("rmsnorm forward matches x / sqrt(mean(x²)+eps) · w, also in place", () => {
  const rand = rng(1);
  const [N, C, eps] = [3, 7, 1e-5];
  const x = randArray(rand, N * C, 2);
  const w = randArray(rand, C);
  const out = new Float32Array(N * C);
  const rstd = new Float32Array(N);
  ref.rmsnormForward(out, rstd, x, w, N, C, eps);
  const expected: number[] = [];
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c]! ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    assertClose("rstd", [rstd[n]!], [r], 1e-6);
    for (let c = 0; c < C; c++) expected.push(x[n * C + c]! * r * w[c]!);
  }
  assertClose("rmsnorm out", out, expected, 1e-6, 1e-7);
  const inPlace = Float32Array.from(x);
  const rstd2 = new Float32Array(N);
  ref.rmsnormForward(inPlace, rstd2, inPlace, w, N, C, eps);
  assert.deepEqual([...inPlace], [...out]);
  assert.deepEqual([...rstd2], [...rstd]);
});

test("rmsnorm backward: dx and accumulated dweight match finite differences; dx may alias dout", () => {
  const rand = rng(2);
  const [N, C, eps] = [4, 9, 1e-5];
  const x = randArray(rand, N * C, 2);
  const w = randArray(rand, C, 1.5);
  const g = randArray(rand, N * C);
  const out = new Float32Array(N * C);
  const rstd = new Float32Array(N);
  const loss = () => {
    ref.rmsnormForward(out, rstd, x, w, N, C, eps);
    return project(g, out);
  };
  loss();
  const dx = new Float32Array(N * C);
  const prior = randArray(rand, C);
  const dw = Float32Array.from(prior);
  ref.rmsnormBackward(dx, dw, g, x, w, rstd, N, C);
  for (let c = 0; c < C; c++) dw[c] = dw[c]! - prior[c]!; // accumulated on top of the prior contents
  fdCheck("rmsnorm dx", x, dx, loss);
  fdCheck("rmsnorm dweight", w, dw, loss);
  const aliased = Float32Array.from(g);
  ref.rmsnormBackward(aliased, null, aliased, x, w, rstd, N, C); // frozen weight, dx === dout
  assert.deepEqual([...aliased], [...dx]);
});

/** Random cos/sin tables [maxPos, half] from random angles. */
function ropeTables(rand: () => number, maxPos: number, half: number) {
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let i = 0; i < cos.length; i++) {
    const ang = rand() * 2 * Math.PI;
    cos[i] = Math.cos(ang);
    sin[i] = Math.sin(ang);
  }
  return { cos, sin };
}

test("rope forward is the rotate-half rotation of each head by its row's position", () => {
  const rand = rng(3);
  const [N, nH, hd, maxPos] = [3, 2, 6, 10];
  const half = hd / 2;
  const { cos, sin } = ropeTables(rand, maxPos, half);
  const pos = new Int32Array([7, 0, 7]);
  const x = randArray(rand, N * nH * hd);
  const y = Float32Array.from(x);
  ref.ropeForward(y, pos, cos, sin, N, nH, hd);
  const expected: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < nH; h++) {
      const v = x.subarray((n * nH + h) * hd, (n * nH + h + 1) * hd);
      const rot = [...v.subarray(half)].map((e) => -e).concat([...v.subarray(0, half)]); // rotate_half(v)
      for (let d = 0; d < hd; d++) {
        const t = pos[n]! * half + (d % half);
        expected.push(v[d]! * cos[t]! + rot[d]! * sin[t]!);
      }
    }
  }
  assertClose("rope", y, expected, 1e-6, 1e-7);
  assert.throws(() => ref.ropeForward(y, new Int32Array([0, 10, 0]), cos, sin, N, nH, hd), /pos\[1\] = 10/);
});

test("rope backward matches finite differences (repeated and unordered positions)", () => {
  const rand = rng(4);
  const [N, nH, hd, maxPos] = [5, 3, 8, 12];
  const { cos, sin } = ropeTables(rand, maxPos, hd / 2);
  const pos = new Int32Array([3, 0, 11, 3, 5]);
  const x = randArray(rand, N * nH * hd);
  const g = randArray(rand, N * nH * hd);
  const y = new Float32Array(x.length);
  const loss = () => {
    y.set(x);
    ref.ropeForward(y, pos, cos, sin, N, nH, hd);
    return project(g, y);
  };
  const dx = Float32Array.from(g);
  ref.ropeBackward(dx, pos, cos, sin, N, nH, hd);
  fdCheck("rope dx", x, dx, loss);
});

test("swiglu forward matches silu(g)·u; backward matches finite differences and allows aliasing", () => {
  const rand = rng(5);
  const n = 40;
  const gate = randArray(rand, n, 6);
  const up = randArray(rand, n, 2);
  gate[0] = -90; // e^90 overflows f32 but not f64: silu → -0-ish, gradient ≈ 0
  const out = new Float32Array(n);
  ref.swigluForward(out, gate, up, n);
  assertClose(
    "swiglu",
    out,
    [...gate].map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!),
    1e-6,
    1e-30,
  );
  const w = randArray(rand, n);
  const loss = () => {
    ref.swigluForward(out, gate, up, n);
    return project(w, out);
  };
  const dgate = new Float32Array(n);
  const dup = new Float32Array(n);
  ref.swigluBackward(dgate, dup, w, gate, up, n);
  fdCheck("swiglu dgate", gate, dgate, loss);
  fdCheck("swiglu dup", up, dup, loss);
  const g2 = Float32Array.from(gate);
  const u2 = Float32Array.from(up);
  ref.swigluBackward(g2, u2, w, g2, u2, n);
  assert.deepEqual([...g2], [...dgate]);
  assert.deepEqual([...u2], [...dup]);
});

test("embedding forward (f32 and bf16) gathers rows; backward scatter-adds repeated ids", () => {
  const rand = rng(6);
  const [V, C] = [5, 3];
  const table = randArray(rand, V * C);
  const ids = new Int32Array([4, 1, 4, 0]);
  const N = ids.length;
  const out = new Float32Array(N * C);
  ref.embeddingWForward(out, ids, table, "f32", N, C);
  assert.deepEqual([...out.subarray(0, 3)], [...table.subarray(12, 15)]);
  assert.deepEqual([...out.subarray(6, 9)], [...table.subarray(12, 15)]);
  const tBf = new Uint16Array(V * C);
  ref.f32ToBf16(tBf, table, V * C);
  const tRound = new Float32Array(V * C);
  ref.bf16ToF32(tRound, tBf, V * C);
  const outBf = new Float32Array(N * C);
  ref.embeddingWForward(outBf, ids, tBf, "bf16", N, C);
  assert.deepEqual([...outBf.subarray(3, 6)], [...tRound.subarray(3, 6)]);
  const w = randArray(rand, N * C);
  const loss = () => {
    ref.embeddingWForward(out, ids, table, "f32", N, C);
    return project(w, out);
  };
  const prior = randArray(rand, V * C);
  const dtable = Float32Array.from(prior);
  ref.embeddingBackward(dtable, w, ids, N, C);
  for (let i = 0; i < dtable.length; i++) dtable[i] = dtable[i]! - prior[i]!;
  fdCheck("embedding dtable", table, dtable, loss);
  assert.equal(dtable[2 * C], 0); // id 2 unused: untouched
  assert.throws(
    () => ref.embeddingWForward(out, new Int32Array([0, 5, 0, 0]), table, "f32", N, C),
    /token id 5 at position 1/,
  );
});

test("cross-entropy: losses, ignored rows, stability, gradient by finite differences, in-place dlogits", () => {
  const rand = rng(7);
  const [N, V, scale] = [5, 11, 1 / 3];
  const logits = randArray(rand, N * V, 4);
  const targets = new Int32Array([3, -100, 0, 10, 3]);
  const losses = new Float32Array(N);
  const total = ref.crossEntropy(losses, null, logits, targets, N, V, scale);
  let sum = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    const row = [...logits.subarray(n * V, (n + 1) * V)];
    const expected = t === -100 ? 0 : Math.log(row.reduce((a, l) => a + Math.exp(l), 0)) - row[t]!;
    assertClose(`loss ${n}`, [losses[n]!], [expected], 1e-6, 1e-7);
    sum += expected;
  }
  assertClose("total", [total], [sum], 1e-6);
  const loss = () => scale * ref.crossEntropy(losses, null, logits, targets, N, V, scale);
  const dlogits = new Float32Array(N * V).fill(Number.NaN);
  ref.crossEntropy(losses, dlogits, logits, targets, N, V, scale);
  assert.ok(
    dlogits.subarray(V, 2 * V).every((d) => d === 0),
    "ignored row has a zero gradient",
  );
  fdCheck("crossEntropy dlogits", logits, dlogits, loss);
  const inPlace = Float32Array.from(logits);
  const total2 = ref.crossEntropy(new Float32Array(N), inPlace, inPlace, targets, N, V, scale);
  assert.deepEqual([...inPlace], [...dlogits]);
  assert.equal(total2, total);
  // Large logits: max subtraction keeps everything finite and exact.
  const big = new Float32Array([1000, 1000, 990]);
  const d = new Float32Array(3);
  const l = ref.crossEntropy(new Float32Array(1), d, big, new Int32Array([2]), 1, 3, 1);
  assertClose("large-logit loss", [l], [10 + Math.log(2 + Math.exp(-10))], 1e-9);
  assert.ok(d.every(Number.isFinite));
  assert.throws(() => ref.crossEntropy(losses, null, logits, new Int32Array([0, 11, 0, 0, 0]), N, V, 1), /target 11/);
});

test("addBias / biasBackward: bias gradient by finite differences, accumulated; addInPlace", () => {
  const rand = rng(8);
  const [M, N] = [7, 5];
  const x = randArray(rand, M * N);
  const bias = randArray(rand, N);
  const w = randArray(rand, M * N);
  const out = new Float32Array(M * N);
  const loss = () => {
    out.set(x);
    ref.addBias(out, bias, M, N);
    return project(w, out);
  };
  loss();
  assertClose(
    "addBias",
    out,
    [...x].map((v, i) => v + bias[i % N]!),
    1e-7,
  );
  const dbias = new Float32Array(N).fill(1);
  ref.biasBackward(dbias, w, M, N);
  for (let n = 0; n < N; n++) dbias[n] = dbias[n]! - 1;
  fdCheck("dbias", bias, dbias, loss);
  const y = Float32Array.from(x);
  ref.addInPlace(y, w, M * N - 1);
  assertClose(
    "addInPlace",
    y.subarray(0, -1),
    [...x.subarray(0, -1)].map((v, i) => v + w[i]!),
    1e-7,
  );
  assert.equal(y[M * N - 1], x[M * N - 1]); // n respected
});
