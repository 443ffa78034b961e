/**
 * The in-memory weight: its storage format, shape (PyTorch order, outermost first) and data. Every floor above
 * (io reads and writes it, nn/model compute with it, lora adapts it) shares this one type.
 */
import type { StorageDType, WeightData } from "./formats/index.ts";

/** How a weight is kept in memory: the name of a format in the registry (tensor/formats/): "f32" or "bf16". */
export type { StorageDType } from "./formats/index.ts";

/** A tensor in memory: its format's name and its data in that format (f32 values, bf16 bits, or blocks). */
export interface StoredTensor {
  dtype: StorageDType;
  shape: number[];
  data: WeightData;
}
