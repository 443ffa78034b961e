/** f32: IEEE single precision, one value per 4 bytes (the format every computation happens in). */
import { alignedFloat32 } from "../aligned.ts";
import type { WeightFormat } from "./format.ts";

export const F32: WeightFormat<Float32Array> = {
  name: "f32",
  id: 0, // GGML_TYPE_F32
  blockValues: 1,
  blockBytes: 4,
  elementBytes: 4,
  fileDType: "F32",
  quantized: false,
  alloc: alignedFloat32,
  toF32(out, data, from, n) {
    out.set(data.subarray(from, from + n));
  },
  fromF32(data, from, src, n) {
    data.set(src.subarray(0, n), from);
  },
};
