/**
 * The weight-format registry (src/tensor/formats/) and the reference weight entries: every format's record round
 * trips (values → format → values), the generic reference path — what a new format gets without reference code
 * of its own — reproduces the bits of the f32 and bf16 routines when run over their records, the weight entries on
 * f32 weights are exactly matmulNT / matmulNN, and the native weight entries give the reference's bits for every
 * format (the native matmul parity for every format is in kernels-native-matmul.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { refKernels as ref } from "../../src/kernels/ref/index.ts";
import { genericEmbedding, genericMatmulNN, genericMatmulNT } from "../../src/kernels/ref/weights.ts";
import {
  BF16,
  F32,
  FORMAT_NAMES,
  formatById,
  formatBytes,
  formatLength,
  QUANTIZED_FORMATS,
  STORAGE_DTYPES,
  type StorageDType,
  valuesAsF32,
  WEIGHT_FORMATS,
  type WeightFormat,
  weightFormat,
} from "../../src/tensor/formats/index.ts";
import { label, nativeVariants, randArray, rng, skipWithoutNative } from "./kernels-native-helpers.ts";

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 33],
  [3, 9, 5],
  [4, 4, 4],
  [7, 33, 127],
  [33, 7, 1],
  [13, 45, 0],
  [127, 6, 65],
];

test("the registry lists every format by name and by ggml type id; --dtype offers the element formats", () => {
  assert.deepEqual(FORMAT_NAMES, ["f32", "bf16", "f16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"]);
  assert.deepEqual(STORAGE_DTYPES, ["f32", "bf16", "f16"]);
  assert.deepEqual(QUANTIZED_FORMATS, ["q8_0", "q4_0", "q4_k", "q5_k", "q6_k"]);
  assert.equal(weightFormat("f32"), F32);
  assert.equal(weightFormat("bf16"), BF16);
  const ids: Record<string, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k: 12, q5_k: 13, q6_k: 14, bf16: 30 };
  const bytes: Record<string, [number, number]> = {
    f32: [1, 4],
    bf16: [1, 2],
    f16: [1, 2],
    q8_0: [32, 34],
    q4_0: [32, 18],
    q4_k: [256, 144],
    q5_k: [256, 176],
    q6_k: [256, 210],
  };
  for (const name of FORMAT_NAMES) {
    assert.equal(formatById(ids[name]!), weightFormat(name), name);
    assert.deepEqual([weightFormat(name).blockValues, weightFormat(name).blockBytes], bytes[name], name);
  }
  assert.throws(() => weightFormat("q9_9"), /unknown weight format "q9_9" \(known: f32, bf16, f16, q8_0/);
  for (const [name, f] of Object.entries(WEIGHT_FORMATS)) {
    assert.equal(f.name, name);
    assert.equal(formatBytes(f, 512), (512 / f.blockValues) * f.blockBytes);
    assert.equal(formatLength(f, 512), f.alloc(512).length);
    assert.equal(f.alloc(512).BYTES_PER_ELEMENT, f.elementBytes);
  }
});

test("every format round-trips its values; bf16 rounds to nearest even as the kernels do", () => {
  const rand = rng(3);
  const x = randArray(rand, 1024, 10);
  for (const f of Object.values(WEIGHT_FORMATS) as WeightFormat[]) {
    const data = f.alloc(x.length);
    f.fromF32(data, 0, x, x.length);
    const back = new Float32Array(x.length);
    f.toF32(back, data, 0, x.length);
    const viaKernels = f.alloc(x.length);
    ref.weightFromF32(viaKernels, f.name as "f32", x, x.length);
    assert.deepEqual(viaKernels, data, `${f.name}: weightFromF32`);
    const back2 = new Float32Array(x.length);
    ref.weightToF32(back2, data, f.name as "f32", x.length);
    assert.deepEqual(back2, back, `${f.name}: weightToF32`);
    assert.deepEqual(valuesAsF32(f.name, data, x.length), back, `${f.name}: valuesAsF32`);
    // Encoding the decoded values again gives the same data (the format is a fixed point of its own rounding) —
    // not for the K-quants, whose scale search may settle elsewhere on values already on a grid.
    if (f.blockValues < 256) {
      const again = f.alloc(x.length);
      f.fromF32(again, 0, back, x.length);
      assert.deepEqual(again, data, `${f.name}: idempotent`);
    }
    // At an offset (whole blocks): the same values land in the same place.
    const at = 512;
    const part = f.alloc(x.length);
    f.fromF32(part, at, x.subarray(at), x.length - at);
    const atElem = formatLength(f, at);
    assert.deepEqual(part.subarray(atElem), data.subarray(atElem), `${f.name}: offset`);
    const tail = new Float32Array(x.length - at);
    f.toF32(tail, data, at, x.length - at);
    assert.deepEqual(tail, back.subarray(at), `${f.name}: toF32 at an offset`);
  }
  const bf = new Uint16Array(1);
  ref.f32ToBf16(bf, Float32Array.of(1.00390625), 1); // halfway between 1 and the next bf16: ties to even (1)
  const viaFormat = BF16.alloc(1);
  BF16.fromF32(viaFormat, 0, Float32Array.of(1.00390625), 1);
  assert.deepEqual(viaFormat, bf);
});

test("the generic reference path over the f32 and bf16 records gives the bits of their own routines", () => {
  const rand = rng(9);
  for (const [M, N, K] of SHAPES) {
    const a = randArray(rand, M * K);
    const w = randArray(rand, N * K);
    const wb = BF16.alloc(N * K);
    BF16.fromF32(wb, 0, w, N * K);
    for (const acc of [false, true]) {
      const init = randArray(rand, M * N);
      const cases: [string, () => void, () => void][] = [
        [
          "NT f32",
          () => ref.matmulWNT(out1, a, w, "f32", M, N, K, acc),
          () => genericMatmulNT(out2, a, w, F32, M, N, K, acc),
        ],
        [
          "NN f32",
          () => ref.matmulWNN(out1, a, w, "f32", M, N, K, acc),
          () => genericMatmulNN(out2, a, w, F32, M, N, K, acc),
        ],
        [
          "NN bf16",
          () => ref.matmulWNN(out1, a, wb, "bf16", M, N, K, acc),
          () => genericMatmulNN(out2, a, wb, BF16, M, N, K, acc),
        ],
      ];
      // bf16's own NT routine for fewer than 4 rows of a sums its last columns with one accumulator, not two.
      if (M >= 4)
        cases.push([
          "NT bf16",
          () => ref.matmulWNT(out1, a, wb, "bf16", M, N, K, acc),
          () => genericMatmulNT(out2, a, wb, BF16, M, N, K, acc),
        ]);
      const out1 = init.slice();
      const out2 = init.slice();
      for (const [name, own, generic] of cases) {
        out1.set(init);
        out2.set(init);
        own();
        generic();
        assert.deepEqual(out2, out1, `${name} ${M}x${N}x${K} acc=${acc}`);
      }
    }
  }
});

test("the weight entries on f32 weights are exactly matmulNT and matmulNN", () => {
  const rand = rng(4);
  for (const [M, N, K] of SHAPES) {
    const a = randArray(rand, M * K);
    const w = randArray(rand, N * K);
    const x = new Float32Array(M * N);
    const y = new Float32Array(M * N);
    ref.matmulNT(x, a, w, M, N, K, false);
    ref.matmulWNT(y, a, w, "f32", M, N, K, false);
    assert.deepEqual(y, x);
    ref.matmulNN(x, a, w, M, N, K, false);
    ref.matmulWNN(y, a, w, "f32", M, N, K, false);
    assert.deepEqual(y, x);
  }
});

test("the generic embedding widens each row with the format's toF32 and checks ids", () => {
  const rand = rng(5);
  const [V, C] = [6, 5];
  const table = randArray(rand, V * C);
  const tb = BF16.alloc(V * C);
  BF16.fromF32(tb, 0, table, V * C);
  const ids = Int32Array.of(5, 0, 5, 2);
  for (const [f, data] of [
    [F32, table],
    [BF16, tb],
  ] as const) {
    const own = new Float32Array(ids.length * C);
    const generic = new Float32Array(ids.length * C);
    ref.embeddingWForward(own, ids, data, f.name as "f32", ids.length, C);
    genericEmbedding(generic, ids, data, f, ids.length, C);
    assert.deepEqual(generic, own, f.name);
    assert.throws(() => genericEmbedding(generic, Int32Array.of(6), data, f, 1, C), /token id 6 at position 0/);
  }
});

test("native weight entries give the reference's bits for every format on every ISA (embedding, to and from f32)", (t) => {
  if (skipWithoutNative(t)) return;
  const rand = rng(12);
  for (const f of Object.values(WEIGHT_FORMATS) as WeightFormat[]) {
    const name = f.name as StorageDType;
    const bv = f.blockValues;
    for (const [V, C] of (bv === 1
      ? [
          [1, 1],
          [11, 7],
          [5, 64],
          [40, 1030],
        ]
      : [
          [1, bv],
          [11, bv],
          [5, 3 * bv],
          [40, 1024],
        ]) as [number, number][]) {
      const x = randArray(rand, V * C, 3);
      const table = f.alloc(V * C);
      ref.weightFromF32(table, name, x, V * C);
      const ids = Int32Array.from({ length: 2 * V + 1 }, () => Math.floor(rand() * V));
      const want = new Float32Array(ids.length * C);
      ref.embeddingWForward(want, ids, table, name, ids.length, C);
      const wide = new Float32Array(V * C);
      ref.weightToF32(wide, table, name, V * C);
      for (const k of nativeVariants([1, 2])) {
        const tag = `${f.name} ${V}x${C} ${label(k)}`;
        const enc = f.alloc(V * C);
        k.weightFromF32(enc, name, x, V * C);
        assert.deepEqual(enc, table, `weightFromF32 ${tag}`);
        const back = new Float32Array(V * C);
        k.weightToF32(back, table, name, V * C);
        assert.deepEqual(back, wide, `weightToF32 ${tag}`);
        const out = new Float32Array(ids.length * C);
        k.embeddingWForward(out, ids, table, name, ids.length, C);
        assert.deepEqual(out, want, `embeddingWForward ${tag}`);
      }
    }
  }
  const k = nativeVariants([1])[0]!;
  assert.throws(() => k.weightToF32(new Float32Array(4), new Float32Array(4), "q9_9" as StorageDType, 4), /format/);
});
