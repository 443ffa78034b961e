/**
 * ggml's tensor types as GGUF stores them: the type id in a tensor info, and how many values a block holds and how
 * many bytes it takes. A tensor's row (ne[0] values) is a whole number of blocks; its bytes are
 * (values / blockValues) · blockBytes. These are ggml's definitions (ggml.h / ggml.c type traits); the reader
 * needs them to check a tensor's size against the file, the writer to size what it writes.
 */

export interface GgmlType {
  /** ggml's name ("F32", "Q8_0"). */
  name: string;
  id: number;
  blockValues: number;
  blockBytes: number;
}

const TYPES: GgmlType[] = [
  { name: "F32", id: 0, blockValues: 1, blockBytes: 4 },
  { name: "F16", id: 1, blockValues: 1, blockBytes: 2 },
  { name: "Q4_0", id: 2, blockValues: 32, blockBytes: 18 },
  { name: "Q4_1", id: 3, blockValues: 32, blockBytes: 20 },
  { name: "Q5_0", id: 6, blockValues: 32, blockBytes: 22 },
  { name: "Q5_1", id: 7, blockValues: 32, blockBytes: 24 },
  { name: "Q8_0", id: 8, blockValues: 32, blockBytes: 34 },
  { name: "Q8_1", id: 9, blockValues: 32, blockBytes: 36 },
  { name: "Q2_K", id: 10, blockValues: 256, blockBytes: 84 },
  { name: "Q3_K", id: 11, blockValues: 256, blockBytes: 110 },
  { name: "Q4_K", id: 12, blockValues: 256, blockBytes: 144 },
  { name: "Q5_K", id: 13, blockValues: 256, blockBytes: 176 },
  { name: "Q6_K", id: 14, blockValues: 256, blockBytes: 210 },
  { name: "Q8_K", id: 15, blockValues: 256, blockBytes: 292 },
  { name: "I8", id: 24, blockValues: 1, blockBytes: 1 },
  { name: "I16", id: 25, blockValues: 1, blockBytes: 2 },
  { name: "I32", id: 26, blockValues: 1, blockBytes: 4 },
  { name: "I64", id: 27, blockValues: 1, blockBytes: 8 },
  { name: "F64", id: 28, blockValues: 1, blockBytes: 8 },
  { name: "BF16", id: 30, blockValues: 1, blockBytes: 2 },
];

const BY_ID = new Map(TYPES.map((t) => [t.id, t]));

/** The ggml type with this id, or undefined for one this reader does not know. */
export function ggmlType(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** The ggml type with this id; throws for an unknown id (a writer's own mistake). */
export function ggmlTypeOf(id: number): GgmlType {
  const t = BY_ID.get(id);
  if (t === undefined) throw new Error(`unknown ggml type id ${id}`);
  return t;
}

export const GGML_F32 = 0;

/** Bytes of a tensor of `values` values of type t (values a multiple of t.blockValues). */
export function ggmlBytes(t: GgmlType, values: number): number {
  return (values / t.blockValues) * t.blockBytes;
}
