/**
 * Chooses the kernel backend once per process.
 * LORATUNE_BACKEND=ref|native forces a backend (default: native when the addon loads, else ref).
 * LORATUNE_ISA=generic|avx2|avx512 forces the native instruction set; LORATUNE_THREADS the thread count.
 */
import { isLoratuneError } from "../errors.ts";
import { loadNativeKernels } from "./native/index.ts";
import { refKernels } from "./ref/index.ts";
import type { Kernels } from "./types.ts";

export type { Kernels } from "./types.ts";

let active: Kernels | undefined;
let notice: string | undefined;

/** Why the native backend is not in use, when it is not (for `loratune inspect --system`). */
export function kernelNotice(): string | undefined {
  getKernels();
  return notice;
}

export function getKernels(): Kernels {
  if (active) return active;
  const wanted = process.env.LORATUNE_BACKEND ?? "auto";
  if (wanted !== "auto" && wanted !== "ref" && wanted !== "native") {
    throw new Error(`LORATUNE_BACKEND must be ref, native or unset (got "${wanted}")`);
  }
  if (wanted !== "ref") {
    const loaded = loadNativeSafely();
    if (loaded.kernels) {
      active = loaded.kernels;
      return active;
    }
    if (wanted === "native")
      throw new Error(`LORATUNE_BACKEND=native but the native kernels are unavailable: ${loaded.reason}`);
    notice = `native kernels unavailable (${loaded.reason}); using the TypeScript kernels`;
  }
  active = refKernels;
  return active;
}

function loadNativeSafely(): { kernels?: Kernels; reason?: string } {
  try {
    return loadNativeKernels();
  } catch (err) {
    // A bad LORATUNE_ISA / LORATUNE_THREADS (or an ISA this CPU lacks) is the user's error: report it.
    if (isLoratuneError(err)) throw err;
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}
