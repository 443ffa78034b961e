/**
 * A timing wrapper around a Kernels object (`bench --profile`): every kernel call is timed with
 * performance.now() and summed per kernel, matmuls per (variant, M, N, K), so a training step can be broken down
 * into where its time goes. The overhead is one clock read pair per call (a few hundred calls per layer step).
 */
import type { Kernels } from "../kernels/types.ts";

export interface ProfileEntry {
  /** Kernel name, with "M×N×K" for matmuls. */
  key: string;
  calls: number;
  ms: number;
  /** 2·M·N·K summed over the calls (matmuls only, else 0). */
  flops: number;
}

export class KernelProfile {
  private readonly entries = new Map<string, ProfileEntry>();
  /** While false, calls are not recorded (warm-up steps). */
  recording = false;

  record(key: string, ms: number, flops: number): void {
    let e = this.entries.get(key);
    if (!e) {
      e = { key, calls: 0, ms: 0, flops: 0 };
      this.entries.set(key, e);
    }
    e.calls += 1;
    e.ms += ms;
    e.flops += flops;
  }

  /** Entries by decreasing total time, each time divided by `steps` (per-step figures). */
  perStep(steps: number): ProfileEntry[] {
    const s = Math.max(1, steps);
    return [...this.entries.values()]
      .map((e) => ({ key: e.key, calls: e.calls / s, ms: e.ms / s, flops: e.flops / s }))
      .sort((a, b) => b.ms - a.ms);
  }
}

/** Matmul entries: where their M, N, K arguments start (the weight entries take the weight's format before them). */
const MATMULS = new Map([
  ["matmulNT", 3],
  ["matmulNN", 3],
  ["matmulTN", 3],
  ["matmulWNT", 4],
  ["matmulWNN", 4],
]);

/** A Kernels object that calls `k` and records each call's time into `profile`. */
export function profiledKernels(k: Kernels, profile: KernelProfile): Kernels {
  const wrapped: Record<string, unknown> = { name: k.name, isa: k.isa, threads: k.threads };
  const source = k as unknown as Record<string, unknown>;
  for (const key of kernelMethodNames(k)) {
    const fn = source[key] as (...args: unknown[]) => unknown;
    const dims = MATMULS.get(key);
    wrapped[key] = (...args: unknown[]): unknown => {
      if (!profile.recording) return fn.apply(k, args);
      const t0 = performance.now();
      const result = fn.apply(k, args);
      const ms = performance.now() - t0;
      if (dims !== undefined) {
        // (out, a, b, M, N, K, accumulate), or (out, a, b, bFormat, M, N, K, accumulate): "matmulWNT[bf16] …"
        const M = args[dims] as number;
        const N = args[dims + 1] as number;
        const K = args[dims + 2] as number;
        const name = dims === 4 ? `${key}[${String(args[3])}]` : key;
        profile.record(`${name} ${M}×${N}×${K}`, ms, 2 * M * N * K);
      } else {
        profile.record(key, ms, 0);
      }
      return result;
    };
  }
  return wrapped as unknown as Kernels;
}

/** Names of the function-valued members of a Kernels object (own or inherited). */
function kernelMethodNames(k: Kernels): string[] {
  const names = new Set<string>();
  for (let o: object | null = k; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== "constructor" && typeof (k as unknown as Record<string, unknown>)[name] === "function") {
        names.add(name);
      }
    }
  }
  return [...names];
}
