/**
 * bf16 tensors in WGSL: a Uint16Array uploaded as-is (buffers.ts) is an `array<u32>` to the shaders, value 2i in
 * the low half of word i (little-endian). A bf16 value is the top half of an f32, so widening is exact: a shift.
 */

/** The WGSL expression for the f32 value of bf16 element `index` (a u32 expression) of the array `name`. */
export function bf16Read(name: string, index: string): string {
  return `bitcast<f32>(((${name}[(${index}) >> 1u] >> (((${index}) & 1u) * 16u)) & 0xffffu) << 16u)`;
}
