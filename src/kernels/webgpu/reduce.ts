/**
 * WGSL for a workgroup-wide reduction: every invocation holds a partial value, the workgroup combines them in a
 * tree (log₂ of the workgroup size steps, a barrier each) and every invocation gets the total. Used by the row kernels
 * (RMSNorm, cross-entropy) that give one workgroup to one row.
 */

/** Invocations per row workgroup. */
export const ROW_WG = 256;

/**
 * Declares `fn <name>(lid: u32, v: f32) -> f32`, combining with `op` ("a + b", "max(a, b)") over a workgroup of
 * `size` invocations (a power of two); it must be called in uniform control flow by the whole workgroup.
 * Scratch is a workgroup array of its own.
 */
export function reduceWgsl(name: string, op: string, size: number = ROW_WG): string {
  return /* wgsl */ `
var<workgroup> ${name}_scratch: array<f32, ${size}>;
fn ${name}(lid: u32, v: f32) -> f32 {
  ${name}_scratch[lid] = v;
  workgroupBarrier();
  for (var w = ${size / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) {
      let a = ${name}_scratch[lid];
      let b = ${name}_scratch[lid + w];
      ${name}_scratch[lid] = ${op};
    }
    workgroupBarrier();
  }
  let total = ${name}_scratch[0];
  workgroupBarrier(); // every invocation has read the total before the scratch is reused
  return total;
}`;
}
