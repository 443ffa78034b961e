/** Reference token embedding: row gather (forward) and scatter-add (backward) on a table [V, C]. */
import { LoratuneError } from "../../errors.ts";
import { bf16Lut } from "./convert.ts";

/** Throws when a token id is outside the table, naming the row (a typed-array read would give NaN silently). */
export function checkIds(ids: Int32Array, N: number, V: number, what: string): void {
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    if (id < 0 || id >= V) {
      throw new LoratuneError(
        "ERR_DATA",
        `${what}: token id ${id} at position ${n} is outside the vocabulary [0, ${V})`,
      );
    }
  }
}

/** out[N,C] = table[ids[n], :] (the f32 routine of embeddingWForward, weights.ts). */
export function embeddingForwardF32(
  out: Float32Array,
  ids: Int32Array,
  table: Float32Array,
  N: number,
  C: number,
): void {
  checkIds(ids, N, Math.floor(table.length / C), "embeddingForward");
  for (let n = 0; n < N; n++) {
    const src = ids[n]! * C;
    out.set(table.subarray(src, src + C), n * C);
  }
}

/** out[N,C] = f32(table[ids[n], :]) for a bf16 table (the bf16 routine of embeddingWForward). */
export function embeddingForwardBf16(
  out: Float32Array,
  ids: Int32Array,
  table: Uint16Array,
  N: number,
  C: number,
): void {
  checkIds(ids, N, Math.floor(table.length / C), "embeddingForwardBf16");
  const lut = bf16Lut();
  for (let n = 0; n < N; n++) {
    const src = ids[n]! * C;
    const dst = n * C;
    for (let c = 0; c < C; c++) out[dst + c] = lut[table[src + c]!]!;
  }
}

/** dtable[ids[n], :] += dout[n, :] (repeated ids accumulate). */
export function embeddingBackward(
  dtable: Float32Array,
  dout: Float32Array,
  ids: Int32Array,
  N: number,
  C: number,
): void {
  checkIds(ids, N, Math.floor(dtable.length / C), "embeddingBackward");
  for (let n = 0; n < N; n++) {
    const dst = ids[n]! * C;
    const src = n * C;
    for (let c = 0; c < C; c++) dtable[dst + c] = dtable[dst + c]! + dout[src + c]!;
  }
}
