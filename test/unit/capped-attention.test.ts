/**
 * src/nn/capped-attention.ts: with scale 1/√hd, no cap and no window it equals the reference kernel's attention
 * (forward and backward); with Gemma 2's options (scale, soft-cap, sliding window) the forward equals a direct
 * f64 softmax over the visible keys, the backward matches finite differences, and the KV-cache form equals the
 * full forward row by row.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import {
  type AttentionOptions,
  cappedAttentionBackward,
  cappedAttentionForward,
  cappedAttentionKV,
} from "../../src/nn/capped-attention.ts";
import { Rng } from "../../src/tensor/rng.ts";

const rng = new Rng(31);
const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
const sh = { B: 2, T: 7, nHead: 4, nKv: 2, headDim: 4 };
const N = sh.B * sh.T;
const HQ = sh.nHead * sh.headDim;
const HKV = sh.nKv * sh.headDim;
const GEMMA2: AttentionOptions = { scale: 0.3, softcap: 1.5, window: 3 };
/** Every element of `got` within `tol` of `want`. */
function assertNear(got: Float32Array, want: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < got.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) < tol, `${what}[${i}] ${got[i]} vs ${want[i]}`);
  }
}
const seg = Int32Array.from({ length: N }, (_, i) => (i % sh.T < 2 ? 0 : 1));

function forward(q: Float32Array, kk: Float32Array, v: Float32Array, o: AttentionOptions, s: Int32Array | null) {
  const out = new Float32Array(N * HQ);
  const lse = new Float32Array(sh.B * sh.nHead * sh.T);
  cappedAttentionForward(out, lse, q, kk, v, s, sh, o);
  return { out, lse };
}

test("no cap, no window, scale 1/√hd: the reference kernel's attention, forward and backward", () => {
  const [q, kk, v, dout] = [rand(N * HQ, 2), rand(N * HKV, 2), rand(N * HKV), rand(N * HQ)];
  const o = { scale: 1 / Math.sqrt(sh.headDim), softcap: 0, window: 0 };
  const got = forward(q, kk, v, o, seg);
  const want = new Float32Array(N * HQ);
  const wantLse = new Float32Array(sh.B * sh.nHead * sh.T);
  k.attentionForward(want, wantLse, q, kk, v, seg, sh.B, sh.T, sh.nHead, sh.nKv, sh.headDim);
  assertNear(got.out, want, 1e-6, "out");
  assertNear(got.lse, wantLse, 1e-5, "lse");
  const [dq, dk, dv] = [new Float32Array(N * HQ), new Float32Array(N * HKV), new Float32Array(N * HKV)];
  const [rq, rk, rv] = [new Float32Array(N * HQ), new Float32Array(N * HKV), new Float32Array(N * HKV)];
  cappedAttentionBackward(dq, dk, dv, dout, q, kk, v, got.out, got.lse, seg, sh, o);
  k.attentionBackward(rq, rk, rv, dout, q, kk, v, want, wantLse, seg, sh.B, sh.T, sh.nHead, sh.nKv, sh.headDim);
  for (const [a, b, name] of [
    [dq, rq, "dq"],
    [dk, rk, "dk"],
    [dv, rv, "dv"],
  ] as const) {
    assertNear(a, b, 1e-5, name);
  }
});

test("scale, soft-cap and window: the forward is a direct softmax over keys t − window < s ≤ t of the segment", () => {
  const [q, kk, v] = [rand(N * HQ, 3), rand(N * HKV, 3), rand(N * HKV)];
  const { out } = forward(q, kk, v, GEMMA2, seg);
  const hd = sh.headDim;
  for (let b = 0; b < sh.B; b++) {
    for (let h = 0; h < sh.nHead; h++) {
      const g = Math.floor(h / (sh.nHead / sh.nKv));
      for (let t = 0; t < sh.T; t++) {
        const row = b * sh.T + t;
        const keys = [];
        for (let s = 0; s <= t; s++) {
          if (t - s < GEMMA2.window && seg[b * sh.T + s] === seg[row]) keys.push(b * sh.T + s);
        }
        const logits = keys.map((r) => {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[row * HQ + h * hd + d]! * kk[r * HKV + g * hd + d]!;
          return GEMMA2.softcap * Math.tanh((GEMMA2.scale * dot) / GEMMA2.softcap);
        });
        const z = logits.reduce((acc, l) => acc + Math.exp(l), 0);
        for (let d = 0; d < hd; d++) {
          const want = keys.reduce((acc, r, i) => acc + (Math.exp(logits[i]!) / z) * v[r * HKV + g * hd + d]!, 0);
          const got = out[row * HQ + h * hd + d]!;
          assert.ok(Math.abs(got - want) < 1e-6, `[${b}, ${h}, ${t}, ${d}] ${got} vs ${want}`);
        }
      }
    }
  }
});

test("with scale, soft-cap and window the backward matches finite differences for q, k and v", () => {
  const [q, kk, v, g] = [rand(N * HQ, 2), rand(N * HKV, 2), rand(N * HKV), rand(N * HQ)];
  const loss = () => forward(q, kk, v, GEMMA2, seg).out.reduce((acc, x, i) => acc + x * g[i]!, 0);
  const { out, lse } = forward(q, kk, v, GEMMA2, seg);
  const [dq, dk, dv] = [new Float32Array(N * HQ), new Float32Array(N * HKV), new Float32Array(N * HKV)];
  cappedAttentionBackward(dq, dk, dv, g, q, kk, v, out, lse, seg, sh, GEMMA2);
  const h = 1e-2;
  for (const [name, param, grad] of [
    ["q", q, dq],
    ["k", kk, dk],
    ["v", v, dv],
  ] as const) {
    for (let i = 0; i < param.length; i += 3) {
      const keep = param[i]!;
      param[i] = keep + h;
      const plus = loss();
      param[i] = keep - h;
      const minus = loss();
      param[i] = keep;
      const fd = (plus - minus) / (2 * h);
      assert.ok(Math.abs(fd - grad[i]!) < 2e-3 * (1 + Math.abs(fd)), `d${name}[${i}] ${grad[i]} vs ${fd}`);
    }
  }
});

test("the KV-cache form equals the full forward at every position, in chunks of 3 and 1", () => {
  const one = { ...sh, B: 1 };
  const T = one.T;
  const [q, kk, v] = [rand(T * HQ, 2), rand(T * HKV, 2), rand(T * HKV)];
  const full = new Float32Array(T * HQ);
  cappedAttentionForward(full, new Float32Array(one.nHead * T), q, kk, v, null, one, GEMMA2);
  for (const chunk of [3, 1]) {
    for (let p0 = 0; p0 < T; p0 += chunk) {
      const n = Math.min(chunk, T - p0);
      const out = new Float32Array(n * HQ);
      cappedAttentionKV(out, q.subarray(p0 * HQ), kk, v, n, p0, one.nHead, one.nKv, one.headDim, GEMMA2);
      assertNear(out, full.subarray(p0 * HQ), 1e-6, `chunk ${chunk} from row ${p0}`);
    }
  }
});
