/**
 * Reference kernels on base weights in any registered format (src/tensor/formats/): the matmul and embedding
 * entries dispatch on the format's name. f32 and bf16 have their own routines (matmul.ts, embedding.ts); any
 * other format goes through the generic path, which widens a few rows at a time with the format's own toF32 and
 * then runs the f32 loops (the same f64 accumulation order), so a new format needs no reference code of its own.
 */
import { type StorageDType, type WeightData, type WeightFormat, weightFormat } from "../../tensor/formats/index.ts";
import { checkIds, embeddingForwardBf16, embeddingForwardF32 } from "./embedding.ts";
import { matmulNN, matmulNNBf16, matmulNT, matmulNTBf16, ntPanel1, ntPanel4 } from "./matmul.ts";
import { SLOT32_PANEL, scratch32 } from "./scratch.ts";

type Product = (
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
) => void;
type Gather = (out: Float32Array, ids: Int32Array, table: WeightData, N: number, C: number) => void;

/** A format's own reference routines; formats without an entry take the generic path. */
interface Routines {
  nt: Product;
  nn: Product;
  embedding: Gather;
}

const ROUTINES: Partial<Record<StorageDType, Routines>> = {
  f32: { nt: matmulNT as Product, nn: matmulNN as Product, embedding: embeddingForwardF32 as Gather },
  bf16: { nt: matmulNTBf16 as Product, nn: matmulNNBf16 as Product, embedding: embeddingForwardBf16 as Gather },
};

/** out[M,N] (+)= a[M,K] · W[N,K]ᵀ, W in format bFormat. */
export function matmulWNT(
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  bFormat: StorageDType,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const own = ROUTINES[bFormat];
  if (own) own.nt(out, a, b, M, N, K, accumulate);
  else genericMatmulNT(out, a, b, weightFormat(bFormat), M, N, K, accumulate);
}

/** out[M,N] (+)= a[M,K] · W[K,N], W in format bFormat. */
export function matmulWNN(
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  bFormat: StorageDType,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const own = ROUTINES[bFormat];
  if (own) own.nn(out, a, b, M, N, K, accumulate);
  else genericMatmulNN(out, a, b, weightFormat(bFormat), M, N, K, accumulate);
}

/** out[N,C] = f32(table[ids[n], :]), table in format tableFormat. */
export function embeddingWForward(
  out: Float32Array,
  ids: Int32Array,
  table: WeightData,
  tableFormat: StorageDType,
  N: number,
  C: number,
): void {
  const own = ROUTINES[tableFormat];
  if (own) {
    own.embedding(out, ids, table, N, C);
    return;
  }
  genericEmbedding(out, ids, table, weightFormat(tableFormat), N, C);
}

/** The embedding for any format: each row widened by the format's toF32. */
export function genericEmbedding(
  out: Float32Array,
  ids: Int32Array,
  table: WeightData,
  format: WeightFormat,
  N: number,
  C: number,
): void {
  const values = ((table.length * format.elementBytes) / format.blockBytes) * format.blockValues;
  checkIds(ids, N, C === 0 ? 0 : Math.floor(values / C), "embeddingForward");
  for (let n = 0; n < N; n++) format.toF32(out.subarray(n * C, (n + 1) * C), table, ids[n]! * C, C);
}

/** out[0, n) = the values of b. */
export function weightToF32(out: Float32Array, b: WeightData, bFormat: StorageDType, n: number): void {
  weightFormat(bFormat).toF32(out, b, 0, n);
}

/** b[0, n) = inp encoded. */
export function weightFromF32(b: WeightData, bFormat: StorageDType, inp: Float32Array, n: number): void {
  weightFormat(bFormat).fromF32(b, 0, inp, n);
}

/** NT for any format: 4 rows of W widened at a time into an f32 panel that every row of a meets (as bf16's). */
export function genericMatmulNT(
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  format: WeightFormat,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const panel = scratch32(SLOT32_PANEL, 4 * K);
  for (let n = 0; n < N; ) {
    const cols = Math.min(4, N - n);
    format.toF32(panel, b, n * K, cols * K);
    if (cols === 4) ntPanel4(out, a, panel, 0, n, M, N, K, accumulate);
    else for (let c = 0; c < cols; c++) ntPanel1(out, a, panel, c * K, n + c, M, N, K, accumulate);
    n += cols;
  }
}

/** NN for any format: W widened once, then the f32 loop (the oracle's order; a backend's routine would widen panels). */
export function genericMatmulNN(
  out: Float32Array,
  a: Float32Array,
  b: WeightData,
  format: WeightFormat,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const wide = new Float32Array(K * N);
  format.toF32(wide, b, 0, K * N);
  matmulNN(out, a, wide, M, N, K, accumulate);
}
