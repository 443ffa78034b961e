/**
 * Chooses the kernel backend once per process.
 * LORATUNE_BACKEND=ref|native forces a backend (default: native when the addon loads, else ref); webgpu trains on a
 * GPU through the optional `webgpu` package (src/webgpu/, train only) and leaves these CPU kernels as by default
 * for everything else.
 * LORATUNE_ISA=generic|avx2|avx512 forces the native instruction set; LORATUNE_THREADS the thread count.
 *
 * Test-only: LORATUNE_TEST_NATIVE_MISSING=1 makes the addon count as not built, so the fallback to the
 * reference kernels and its warning can be tested on a machine where the addon is built.
 */
import { isLoratuneError, LoratuneError } from "../errors.ts";
import { loadNativeKernels } from "./native/index.ts";
import { buildFromSourceCommand } from "./native/locate.ts";
import { refKernels } from "./ref/index.ts";
import type { Kernels } from "./types.ts";

export { hasQ8Dot } from "./ref/matvec-q8.ts";
export type { Kernels } from "./types.ts";

/** The values LORATUNE_BACKEND accepts (unset: native when the addon loads, else ref). */
export const BACKENDS = ["ref", "native", "webgpu"] as const;

/** Whether LORATUNE_BACKEND=webgpu asks for training on WebGPU (train checks it; the CPU kernels stay as default). */
export function webgpuRequested(): boolean {
  return backendFromEnv() === "webgpu";
}

/**
 * How much slower the reference kernels are than the native ones. Measured with `loratune bench` (2 cores, AVX2,
 * LORATUNE_BACKEND=ref against native, same run): training 18x on the tiny shape and 103x on small, decoding 4.5x
 * and 31x; the gap grows with the model (plain TypeScript loops reach ~1 GFLOP/s).
 */
export const REF_SLOWDOWN = "10 to 100 times";

let active: Kernels | undefined;
let notice: string | undefined;
/** Whether a caller took the notice to show it (the CLI's warning, inspect, bench reports). */
let noticeTaken = false;

/**
 * Why the native backend is not in use, when it is not and LORATUNE_BACKEND did not ask for the reference
 * kernels (for `loratune inspect --system` and bench reports). Undefined when native is active or ref was chosen.
 * The caller shows it: the process warning for library callers is then not emitted.
 */
export function kernelNotice(): string | undefined {
  getKernels();
  noticeTaken = true;
  return notice;
}

/** The warning's text for a notice: the reason, the slowdown and the fix. */
function warningText(why: string): string {
  return (
    `${why}, ${REF_SLOWDOWN} slower than the native ones (more for larger models). Fix: build them with ` +
    `'${buildFromSourceCommand()}' (needs a C++ toolchain: python3, make and g++ or clang++)`
  );
}

/**
 * Library callers (which never ask for the notice) still hear about the fallback, once, as a process warning
 * (type LoratuneWarning, code NATIVE_KERNELS_MISSING). Deferred to the next tick so that a caller that takes the
 * notice right after choosing the kernels, as the CLI does, is not warned twice.
 */
function warnLibraryCallerOnce(): void {
  process.nextTick(() => {
    if (noticeTaken || notice === undefined) return;
    noticeTaken = true;
    process.emitWarning(warningText(notice), { type: "LoratuneWarning", code: "NATIVE_KERNELS_MISSING" });
  });
}

/**
 * The one-line warning computing commands print on stderr when the native kernels are missing: the reason,
 * the slowdown and the fix. Undefined when the native kernels are in use or LORATUNE_BACKEND=ref chose the
 * reference kernels on purpose.
 */
export function kernelWarning(): string | undefined {
  const why = kernelNotice();
  return why === undefined ? undefined : warningText(why);
}

/** LORATUNE_BACKEND, validated: "auto" when unset or empty. */
function backendFromEnv(): "auto" | (typeof BACKENDS)[number] {
  const v = process.env.LORATUNE_BACKEND;
  if (v === undefined || v === "") return "auto";
  if (!(BACKENDS as readonly string[]).includes(v)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `LORATUNE_BACKEND must be ${BACKENDS.slice(0, -1).join(", ")} or ${BACKENDS.at(-1)} (or unset to use native when it is built), got "${v}"`,
    );
  }
  return v as (typeof BACKENDS)[number];
}

export function getKernels(): Kernels {
  if (active) return active;
  const env = backendFromEnv();
  // webgpu: the CPU kernels (for what does not run on the GPU) are chosen as when LORATUNE_BACKEND is unset.
  const wanted = env === "webgpu" ? "auto" : env;
  if (wanted !== "ref") {
    const loaded = loadNativeSafely();
    if (loaded.kernels) {
      active = loaded.kernels;
      return active;
    }
    if (wanted === "native") {
      throw new LoratuneError(
        "ERR_NATIVE",
        `LORATUNE_BACKEND=native but the native kernels are unavailable: ${loaded.reason}`,
      );
    }
    notice = `native kernels unavailable (${loaded.reason ?? "unknown reason"}); using the TypeScript reference kernels`;
    warnLibraryCallerOnce();
  }
  active = refKernels;
  return active;
}

function loadNativeSafely(): { kernels?: Kernels; reason?: string } {
  if (process.env.LORATUNE_TEST_NATIVE_MISSING === "1") {
    return { reason: "no binary (simulated by LORATUNE_TEST_NATIVE_MISSING=1)" };
  }
  try {
    return loadNativeKernels();
  } catch (err) {
    // A bad LORATUNE_ISA / LORATUNE_THREADS (or an ISA this CPU lacks) is the user's error: report it.
    if (isLoratuneError(err)) throw err;
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}
