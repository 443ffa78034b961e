/**
 * Native attention parity: causal grouped-query attention forward (out, lse), backward (dq, dk, dv) and the
 * KV-cache variant against the reference, under every ISA at 1 and 2 threads. Shapes cover a single token,
 * odd lengths, grouped KV heads, head sizes that are not a multiple of the vector width, sequences longer than a
 * query tile (72), and packed segments (tokens attend only within their segment).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { assertNormClose, label, nativeVariants, randArray, rng, skipWithoutNative } from "./kernels-native-helpers.ts";

const RTOL = 1e-5;

// [B, T, nHead, nKv, headDim, packed segments?]
const SHAPES: [number, number, number, number, number, boolean][] = [
  [1, 1, 1, 1, 2, false],
  [2, 7, 4, 2, 6, true],
  [1, 33, 3, 1, 34, false],
  [2, 127, 9, 3, 64, true],
  [1, 150, 2, 2, 16, false],
  [1, 160, 4, 2, 8, true],
];

/** Segment ids for packed rows: runs of random length per sequence. */
function segments(rand: () => number, B: number, T: number): Int32Array {
  const seg = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let id = 0;
    for (let t = 0; t < T; t++) {
      if (t > 0 && rand() < 0.08) id++;
      seg[b * T + t] = id;
    }
  }
  return seg;
}

test("native attention forward/backward match the reference (GQA, odd lengths, packed segments)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(21);
  for (const [B, T, H, KV, hd, packed] of SHAPES) {
    const nq = B * T * H * hd;
    const nk = B * T * KV * hd;
    const q = randArray(rand, nq, 2);
    const k = randArray(rand, nk, 2);
    const v = randArray(rand, nk);
    const dout = randArray(rand, nq);
    const seg = packed ? segments(rand, B, T) : null;
    const want = { out: new Float32Array(nq), lse: new Float32Array(B * H * T) };
    refKernels.attentionForward(want.out, want.lse, q, k, v, seg, B, T, H, KV, hd);
    const wantG = { dq: new Float32Array(nq), dk: new Float32Array(nk), dv: new Float32Array(nk) };
    refKernels.attentionBackward(wantG.dq, wantG.dk, wantG.dv, dout, q, k, v, want.out, want.lse, seg, B, T, H, KV, hd);
    for (const kern of nativeVariants()) {
      const name = `B${B} T${T} H${H}/${KV} hd${hd}${packed ? " packed" : ""} ${label(kern)}`;
      const out = new Float32Array(nq);
      const lse = new Float32Array(B * H * T);
      kern.attentionForward(out, lse, q, k, v, seg, B, T, H, KV, hd);
      assertNormClose(`attentionForward out ${name}`, out, want.out, RTOL);
      assertNormClose(`attentionForward lse ${name}`, lse, want.lse, RTOL);
      const g = {
        dq: new Float32Array(nq).fill(9),
        dk: new Float32Array(nk).fill(9),
        dv: new Float32Array(nk).fill(9),
      };
      kern.attentionBackward(g.dq, g.dk, g.dv, dout, q, k, v, want.out, want.lse, seg, B, T, H, KV, hd);
      assertNormClose(`attentionBackward dq ${name}`, g.dq, wantG.dq, RTOL);
      assertNormClose(`attentionBackward dk ${name}`, g.dk, wantG.dk, RTOL);
      assertNormClose(`attentionBackward dv ${name}`, g.dv, wantG.dv, RTOL);
    }
  }
});

test("native attentionKV matches the reference (decode and prefill against a cache)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(22);
  const maxT = 300;
  for (const [Tq, pos0, H, KV, hd] of [
    [1, 0, 1, 1, 2],
    [1, 37, 4, 2, 6],
    [3, 100, 9, 3, 64],
    [1, 250, 6, 6, 48], // decoding, keys split across threads
    [2, 280, 8, 2, 20],
    [4, 200, 3, 1, 37],
    [7, 0, 3, 1, 34],
    [80, 5, 4, 4, 16],
    [150, 100, 2, 1, 8],
  ] as [number, number, number, number, number][]) {
    const q = randArray(rand, Tq * H * hd, 2);
    const kc = randArray(rand, maxT * KV * hd, 2);
    const vc = randArray(rand, maxT * KV * hd);
    const want = new Float32Array(Tq * H * hd);
    refKernels.attentionKV(want, q, kc, vc, Tq, pos0, H, KV, hd);
    for (const kern of nativeVariants()) {
      const out = new Float32Array(Tq * H * hd);
      kern.attentionKV(out, q, kc, vc, Tq, pos0, H, KV, hd);
      assertNormClose(`attentionKV Tq${Tq} pos0 ${pos0} H${H}/${KV} hd${hd} ${label(kern)}`, out, want, RTOL);
    }
  }
});

test("native attentionKV decoding propagates a NaN in the cache (split keys included)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(23);
  const [H, hd, pos0] = [4, 16, 600];
  const q = randArray(rand, H * hd);
  const kc = randArray(rand, (pos0 + 1) * H * hd);
  const vc = randArray(rand, (pos0 + 1) * H * hd);
  vc[450 * H * hd + hd + 3] = Number.NaN; // key 450, head 1 (in the second thread's half of the keys): value
  kc[450 * H * hd + 2 * hd + 5] = Number.NaN; // and head 2: key, so that thread's softmax sum is NaN
  for (const kern of nativeVariants()) {
    const out = new Float32Array(H * hd);
    kern.attentionKV(out, q, kc, vc, 1, pos0, H, H, hd);
    assert.ok(Number.isNaN(out[hd + 3]!), `${label(kern)}: head 1 output is NaN`);
    assert.ok(out.subarray(2 * hd, 3 * hd).every(Number.isNaN), `${label(kern)}: head 2 output is all NaN`);
    assert.ok(out.subarray(0, hd).every(Number.isFinite), `${label(kern)}: head 0 stays finite`);
  }
});

test("native attention rejects heads that do not group and caches that are too short", (t) => {
  if (skipWithoutNative(t)) return;
  const k = nativeVariants([1])[0]!;
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => k.attentionForward(f(12), f(3), f(12), f(8), f(8), null, 1, 1, 3, 2, 4), /multiple of nKv/);
  assert.throws(() => k.attentionKV(f(8), f(8), f(8), f(8), 1, 1, 2, 2, 4), /kCache has 8 elements, needs at least 16/);
});
