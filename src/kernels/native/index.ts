import type { Kernels } from "../types.ts";

/** Loads the C++ addon and adapts it to Kernels; `reason` says why not when it cannot. */
export function loadNativeKernels(): { kernels?: Kernels; reason?: string } {
  return { reason: "the native addon is not built yet" };
}
