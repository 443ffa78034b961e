/**
 * GPT-2's shared layers (src/nn/layernorm.ts, src/nn/gelu.ts): the forward against the formula in f64, and each
 * backward against central finite differences of a random linear functional of the output (in f64 on f32 values).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { geluBackward, geluForward } from "../../src/nn/gelu.ts";
import { layerNormBackward, layerNormForward } from "../../src/nn/layernorm.ts";
import { Rng } from "../../src/tensor/rng.ts";

const rng = new Rng(17);
const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

const N = 3;
const C = 7;
const EPS = 1e-5;

function layerNormOut(x: Float32Array, w: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(N * C);
  layerNormForward(out, new Float32Array(N), new Float32Array(N), x, w, b, N, C, EPS);
  return out;
}

test("layerNormForward is (x - mean) / sqrt(var + eps) * w + b per row, with the biased variance", () => {
  const x = rand(N * C, 2);
  const w = rand(C);
  const b = rand(C);
  const out = layerNormOut(x, w, b);
  for (let i = 0; i < N; i++) {
    const row = [...x.subarray(i * C, (i + 1) * C)];
    const mu = row.reduce((s, v) => s + v, 0) / C;
    const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / C;
    for (let j = 0; j < C; j++) {
      const want = ((row[j]! - mu) / Math.sqrt(variance + EPS)) * w[j]! + b[j]!;
      assert.ok(Math.abs(out[i * C + j]! - want) < 1e-5, `[${i}, ${j}] ${out[i * C + j]} vs ${want}`);
    }
  }
});

test("layerNormBackward matches finite differences for x, w and b", () => {
  const x = rand(N * C, 2);
  const w = rand(C);
  const b = rand(C);
  const g = rand(N * C); // loss = Σ g · out
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  layerNormForward(new Float32Array(N * C), mean, rstd, x, w, b, N, C, EPS);
  const dx = new Float32Array(N * C);
  const dw = new Float32Array(C);
  const db = new Float32Array(C);
  layerNormBackward(dx, dw, db, g, x, w, mean, rstd, N, C);
  const h = 1e-2;
  for (const [name, param, grad] of [
    ["x", x, dx],
    ["w", w, dw],
    ["b", b, db],
  ] as const) {
    for (let i = 0; i < param.length; i++) {
      const keep = param[i]!;
      param[i] = keep + h;
      const up = dot(g, layerNormOut(x, w, b));
      param[i] = keep - h;
      const down = dot(g, layerNormOut(x, w, b));
      param[i] = keep;
      const numeric = (up - down) / (2 * h);
      assert.ok(Math.abs(numeric - grad[i]!) < 2e-3 * Math.max(1, Math.abs(numeric)), `d${name}[${i}]`);
    }
  }
});

test("layerNormBackward accumulates into dw and db, and skips them when null", () => {
  const x = rand(N * C);
  const w = rand(C);
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  layerNormForward(new Float32Array(N * C), mean, rstd, x, w, rand(C), N, C, EPS);
  const g = rand(N * C);
  const dx1 = new Float32Array(N * C);
  const db = new Float32Array(C).fill(1);
  layerNormBackward(dx1, null, db, g, x, w, mean, rstd, N, C);
  const dx2 = new Float32Array(N * C);
  layerNormBackward(dx2, null, null, g, x, w, mean, rstd, N, C);
  assert.deepEqual(dx1, dx2);
  for (let j = 0; j < C; j++) {
    let sum = 1;
    for (let i = 0; i < N; i++) sum += g[i * C + j]!;
    assert.ok(Math.abs(db[j]! - sum) < 1e-5);
  }
});

test("geluForward is the tanh approximation (gelu_new), and geluBackward matches finite differences", () => {
  const x = Float32Array.from([-6, -3, -1.5, -0.5, 0, 0.3, 1, 2.5, 5]);
  const out = new Float32Array(x.length);
  geluForward(out, x, x.length);
  x.forEach((v, i) => {
    const want = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    assert.ok(Math.abs(out[i]! - want) < 1e-6, `gelu(${v})`);
  });
  // PyTorch: F.gelu(torch.tensor([1.0]), approximate="tanh") = 0.8411920070648193
  assert.ok(Math.abs(out[6]! - 0.841192) < 1e-6);
  const g = rand(x.length);
  const dx = new Float32Array(x.length);
  geluBackward(dx, g, x, x.length);
  const h = 1e-3;
  x.forEach((v, i) => {
    const f = (t: number) => {
      const o = new Float32Array(1);
      geluForward(o, Float32Array.of(t), 1);
      return o[0]!;
    };
    const numeric = (g[i]! * (f(v + h) - f(v - h))) / (2 * h);
    assert.ok(Math.abs(numeric - dx[i]!) < 2e-3, `gelu'(${v}): ${dx[i]} vs ${numeric}`);
  });
});
