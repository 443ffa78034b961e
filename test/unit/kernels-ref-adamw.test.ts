/** Reference AdamW against hand-computed values (PyTorch semantics: decoupled decay, bias correction from step 1). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { assertClose } from "./kernels-ref-helpers.ts";

test("adamw: three steps with weight decay match values computed by hand", () => {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, wd 0.01, p0 = 1, grads 0.5, -0.25, 1. By hand:
  // t=1: p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899000002;  m = 0.05, v = 0.00025
  // t=2: p = 0.899000002·0.999 − 0.1·(0.02/0.19)/(sqrt(0.00031225/0.001999) + 1e-8) = 0.8714672987
  // t=3: p = 0.8714672987·0.999 − 0.1·(0.118/0.271)/(sqrt(0.00131193775/0.002997001) + 1e-8) = 0.8047846724
  const expected = [0.899000002, 0.8714672987, 0.8047846724];
  const p = new Float32Array([1]);
  const m = new Float32Array(1);
  const v = new Float32Array(1);
  [0.5, -0.25, 1].forEach((g, i) => {
    ref.adamw(p, new Float32Array([g]), m, v, 1, 0.1, 0.9, 0.999, 1e-8, 0.01, i + 1);
    assertClose(`param after step ${i + 1}`, p, [expected[i]!], 2e-7);
  });
  assertClose("m", m, [0.118], 1e-6);
  assertClose("v", v, [0.00131193775], 1e-6);
});

test("adamw: a constant gradient moves each parameter by lr·g/(|g|+eps) per step (bias correction exact)", () => {
  const g = new Float32Array([1, -0.5, 3e-3, -200, 0]);
  const p0 = new Float32Array([0.5, -1, 2, 0, 0.25]);
  const p = Float32Array.from(p0);
  const m = new Float32Array(g.length);
  const v = new Float32Array(g.length);
  const lr = 0.01;
  for (let t = 1; t <= 5; t++) {
    ref.adamw(p, g, m, v, g.length, lr, 0.9, 0.95, 1e-8, 0, t);
    const want = [...p0].map((x, i) => x - (t * lr * g[i]!) / (Math.abs(g[i]!) + 1e-8));
    assertClose(`step ${t}`, p, want, 1e-6, 1e-7);
  }
});

test("adamw: weight decay is decoupled (applied to the parameter, not through the moments)", () => {
  // With a zero gradient, moments stay zero and only p ← p·(1 − lr·wd) applies. Adam with L2 decay would
  // instead move p by ≈ lr per step.
  const p = new Float32Array([2, -3]);
  const m = new Float32Array(2);
  const v = new Float32Array(2);
  const zero = new Float32Array(2);
  for (let t = 1; t <= 3; t++) ref.adamw(p, zero, m, v, 2, 0.1, 0.9, 0.999, 1e-8, 0.5, t);
  assertClose("decayed", p, [2 * 0.95 ** 3, -3 * 0.95 ** 3], 1e-6);
  assert.deepEqual([...m, ...v], [0, 0, 0, 0]);
});

test("adamw: n limits the update, and a step below 1 is refused", () => {
  const p = new Float32Array([1, 1]);
  const g = new Float32Array([1, 1]);
  const m = new Float32Array(2);
  const v = new Float32Array(2);
  ref.adamw(p, g, m, v, 1, 0.1, 0.9, 0.999, 1e-8, 0, 1);
  assert.equal(p[1], 1);
  assert.ok(Math.abs(p[0]! - 0.9) < 1e-6);
  assert.throws(() => ref.adamw(p, g, m, v, 2, 0.1, 0.9, 0.999, 1e-8, 0, 0), /step/);
});
