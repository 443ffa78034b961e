/**
 * The in-memory weight: its storage format, shape (PyTorch order, outermost first) and data. Every floor above
 * (io reads and writes it, nn/model compute with it, lora adapts it) shares this one type.
 */

/** How a weight is kept in memory: f32 values, or bf16 bits (the upper half of an f32) in a Uint16Array. */
export type StorageDType = "f32" | "bf16";

/** A tensor in memory: f32 values, or bf16 bits in a Uint16Array. */
export interface StoredTensor {
  dtype: StorageDType;
  shape: number[];
  data: Float32Array | Uint16Array;
}
