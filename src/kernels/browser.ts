/**
 * The kernel choice in a browser (the web bundle, scripts/build-web.mjs, uses this module in place of
 * kernels/index.ts): there is no native addon and no process environment, so the CPU kernels are always the
 * TypeScript reference ones; training runs on WebGPU (src/webgpu/), and the CPU kernels serve what stays on the CPU
 * (LoRA initialisation, greedy decoding for the held-out scores).
 */
import { refKernels } from "./ref/index.ts";
import type { Kernels } from "./types.ts";

export { hasQ8Dot } from "./ref/matvec-q8.ts";
export type { Kernels } from "./types.ts";

/** The reference kernels: the only CPU backend in a browser. */
export function getKernels(): Kernels {
  return refKernels;
}
