/** src/nn/softcap.ts: z = c·tanh(x/c) against the formula, and its backward against finite differences. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { softcapBackward, softcapForward } from "../../src/nn/softcap.ts";

const xs = Float32Array.from([-9, -2.5, -0.3, 0, 0.7, 3, 12]);
const C = 2.5;

test("softcapForward is c·tanh(x/c): odd, bounded by c, the identity near 0", () => {
  const z = Float32Array.from(xs);
  softcapForward(z, z.length, C);
  xs.forEach((x, i) => {
    assert.ok(Math.abs(z[i]! - C * Math.tanh(x / C)) < 1e-6, `${x}`);
    assert.ok(Math.abs(z[i]!) < C);
  });
});

test("softcapBackward (from the capped values) matches finite differences", () => {
  const z = Float32Array.from(xs);
  softcapForward(z, z.length, C);
  const d = new Float32Array(xs.length).fill(1);
  softcapBackward(d, z, z.length, C);
  const h = 1e-3;
  xs.forEach((x, i) => {
    const fd = (C * Math.tanh((x + h) / C) - C * Math.tanh((x - h) / C)) / (2 * h);
    assert.ok(Math.abs(d[i]! - fd) < 1e-4, `x ${x}: ${d[i]} vs ${fd}`);
  });
});
