/**
 * Reference attention: forward against a naive masked softmax(QKᵀ/√hd)·V, backward by finite differences (GQA,
 * segment masks), and attentionKV against attentionForward rows.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { assertClose, fdCheck, project, randArray, rng } from "./kernels-ref-helpers.ts";

interface Dims {
  B: number;
  T: number;
  nHead: number;
  nKv: number;
  hd: number;
}

/** Naive attention: full T×T score matrix per (b, h), mask → −∞, softmax without tricks. */
function naiveAttention(q: Float32Array, k: Float32Array, v: Float32Array, seg: Int32Array | null, d: Dims) {
  const { B, T, nHead, nKv, hd } = d;
  const out = new Float64Array(B * T * nHead * hd);
  const lse = new Float64Array(B * nHead * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / (nHead / nKv));
      for (let t = 0; t < T; t++) {
        const e: number[] = [];
        for (let s = 0; s < T; s++) {
          const visible = s <= t && (seg === null || seg[b * T + s] === seg[b * T + t]);
          let dot = 0;
          for (let i = 0; i < hd; i++)
            dot += q[((b * T + t) * nHead + h) * hd + i]! * k[((b * T + s) * nKv + kvh) * hd + i]!;
          e.push(visible ? Math.exp(dot / Math.sqrt(hd)) : 0);
        }
        const z = e.reduce((a, x) => a + x, 0);
        lse[(b * nHead + h) * T + t] = Math.log(z);
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let s = 0; s < T; s++) acc += (e[s]! / z) * v[((b * T + s) * nKv + kvh) * hd + i]!;
          out[((b * T + t) * nHead + h) * hd + i] = acc;
        }
      }
    }
  }
  return { out, lse };
}

function makeInputs(seed: number, d: Dims) {
  const rand = rng(seed);
  const q = randArray(rand, d.B * d.T * d.nHead * d.hd, 1.5);
  const k = randArray(rand, d.B * d.T * d.nKv * d.hd, 1.5);
  const v = randArray(rand, d.B * d.T * d.nKv * d.hd);
  return { rand, q, k, v };
}

function forward(q: Float32Array, k: Float32Array, v: Float32Array, seg: Int32Array | null, d: Dims) {
  const out = new Float32Array(q.length);
  const lse = new Float32Array(d.B * d.nHead * d.T);
  ref.attentionForward(out, lse, q, k, v, seg, d.B, d.T, d.nHead, d.nKv, d.hd);
  return { out, lse };
}

const CASES: { name: string; d: Dims; seg: number[] | null }[] = [
  { name: "MHA", d: { B: 1, T: 6, nHead: 2, nKv: 2, hd: 4 }, seg: null },
  { name: "GQA 4:2, B=2", d: { B: 2, T: 5, nHead: 4, nKv: 2, hd: 6 }, seg: null },
  { name: "MQA 3:1", d: { B: 1, T: 7, nHead: 3, nKv: 1, hd: 5 }, seg: null },
  { name: "GQA 4:2 + seg mask", d: { B: 2, T: 6, nHead: 4, nKv: 2, hd: 4 }, seg: [0, 0, 1, 1, 1, 2, 5, 5, 5, 5, 6, 6] },
];

for (const c of CASES) {
  test(`attention forward (${c.name}) matches naive softmax(QKᵀ/√hd)·V and its log-sum-exp`, () => {
    const { q, k, v } = makeInputs(11, c.d);
    const seg = c.seg === null ? null : Int32Array.from(c.seg);
    const got = forward(q, k, v, seg, c.d);
    const want = naiveAttention(q, k, v, seg, c.d);
    assertClose("out", got.out, want.out, 1e-5, 1e-6);
    assertClose("lse", got.lse, want.lse, 1e-6, 1e-6);
  });

  test(`attention backward (${c.name}) matches finite differences for q, k, v`, () => {
    const { rand, q, k, v } = makeInputs(12, c.d);
    const seg = c.seg === null ? null : Int32Array.from(c.seg);
    const w = randArray(rand, q.length);
    const loss = () => project(w, forward(q, k, v, seg, c.d).out);
    const { out, lse } = forward(q, k, v, seg, c.d);
    const dq = new Float32Array(q.length).fill(Number.NaN);
    const dk = new Float32Array(k.length).fill(Number.NaN); // overwritten, not accumulated
    const dv = new Float32Array(v.length).fill(Number.NaN);
    const { B, T, nHead, nKv, hd } = c.d;
    ref.attentionBackward(dq, dk, dv, w, q, k, v, out, lse, seg, B, T, nHead, nKv, hd);
    fdCheck("dq", q, dq, loss);
    fdCheck("dk", k, dk, loss);
    fdCheck("dv", v, dv, loss);
  });
}

test("attention with a seg mask: packed examples never see each other", () => {
  const d = { B: 1, T: 6, nHead: 2, nKv: 1, hd: 4 };
  const seg = Int32Array.from([0, 0, 0, 1, 1, 1]);
  const { q, k, v } = makeInputs(13, d);
  const base = forward(q, k, v, seg, d).out;
  // Changing the keys/values of the first example must not change the second example's outputs, and vice versa.
  const k2 = Float32Array.from(k);
  const v2 = Float32Array.from(v);
  for (let i = 0; i < 3 * d.hd; i++) {
    k2[i] = k2[i]! + 1;
    v2[i] = v2[i]! - 2;
  }
  const changed = forward(q, k2, v2, seg, d).out;
  const row = d.nHead * d.hd;
  assert.deepEqual([...changed.subarray(3 * row)], [...base.subarray(3 * row)]);
  assert.notDeepEqual([...changed.subarray(0, 3 * row)], [...base.subarray(0, 3 * row)]);
  // The first token of an example attends only to itself: its output is its own value row.
  assertClose("self only", base.subarray(3 * row, 3 * row + d.hd), v.subarray(3 * d.hd, 4 * d.hd), 1e-6);
});

test("attentionKV reproduces attentionForward rows (prefill at once, in chunks, and token by token)", () => {
  const d = { B: 1, T: 9, nHead: 4, nKv: 2, hd: 8 };
  const { q, k, v } = makeInputs(14, d);
  const { out } = forward(q, k, v, null, d);
  const maxT = 16;
  const kvRow = d.nKv * d.hd;
  const qRow = d.nHead * d.hd;
  const kCache = new Float32Array(maxT * kvRow).fill(Number.NaN); // rows past the query's position are never read
  const vCache = new Float32Array(maxT * kvRow).fill(Number.NaN);
  const chunks: [number, number][] = [
    [0, 4],
    [4, 1],
    [5, 3],
    [8, 1],
  ];
  const got = new Float32Array(q.length);
  for (const [pos0, Tq] of chunks) {
    kCache.set(k.subarray(pos0 * kvRow, (pos0 + Tq) * kvRow), pos0 * kvRow);
    vCache.set(v.subarray(pos0 * kvRow, (pos0 + Tq) * kvRow), pos0 * kvRow);
    const o = new Float32Array(Tq * qRow);
    ref.attentionKV(o, q.subarray(pos0 * qRow, (pos0 + Tq) * qRow), kCache, vCache, Tq, pos0, d.nHead, d.nKv, d.hd);
    got.set(o, pos0 * qRow);
  }
  assertClose("kv vs forward", got, out, 1e-6, 1e-7);
  const whole = new Float32Array(q.length);
  ref.attentionKV(whole, q, kCache, vCache, d.T, 0, d.nHead, d.nKv, d.hd);
  assertClose("kv prefill vs forward", whole, out, 1e-6, 1e-7);
});

test("attention rejects a head count that is not a multiple of the kv heads", () => {
  const z = new Float32Array(64);
  assert.throws(() => ref.attentionForward(z, z, z, z, z, null, 1, 2, 3, 2, 4), /multiple of nKv/);
});
