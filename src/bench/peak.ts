/**
 * The machine's matmul peak as loratune's own kernels reach it, measured in the same bench run: the best
 * GFLOP/s of out[M,N] = a[M,K]·b[N,K]ᵀ over a few large shapes (the linear-layer forward), f32, and with bf16
 * weights when the bench runs bf16. Achieved GFLOP/s of each workload are reported as a fraction of the peak of
 * its own weight dtype. The memory bandwidth is probed in the same worker when asked (bandwidth.ts).
 */

import type { Kernels } from "../kernels/types.ts";
import { Rng } from "../tensor/rng.ts";
import { measureBandwidth } from "./bandwidth.ts";
import type { PeakEntry, PeakResult, PeakSpec } from "./spec.ts";
import { kernelInfo } from "./stats.ts";

/** SmolLM2-135M's q/gate projection at 1024 tokens, and 1024³. */
export const PEAK_SIZES: [number, number, number][] = [
  [1024, 1536, 576],
  [1024, 1024, 1024],
];
export const QUICK_PEAK_SIZES: [number, number, number][] = [[256, 384, 144]];

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** Best-of-`reps` rate of one call doing `work` units (flops, bytes), in giga-units per second (after one untimed call). */
export function bestGigaRate(call: () => void, work: number, reps: number): number {
  call();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    call();
    best = Math.min(best, performance.now() - t);
  }
  return work / (best / 1000) / 1e9;
}

export function measurePeak(k: Kernels, spec: PeakSpec): PeakResult {
  const rng = new Rng(7);
  const entries: PeakEntry[] = [];
  for (const [M, N, K] of spec.sizes) {
    const a = randomArray(M * K, rng);
    const b = randomArray(N * K, rng);
    const out = new Float32Array(M * N);
    const flops = 2 * M * N * K;
    entries.push({
      variant: "matmulNT",
      M,
      N,
      K,
      gflops: bestGigaRate(() => k.matmulNT(out, a, b, M, N, K, false), flops, spec.reps),
    });
    if (spec.dtype !== "bf16") continue;
    const b16 = new Uint16Array(N * K);
    k.f32ToBf16(b16, b, N * K);
    entries.push({
      variant: "matmulNTBf16",
      M,
      N,
      K,
      gflops: bestGigaRate(() => k.matmulWNT(out, a, b16, "bf16", M, N, K, false), flops, spec.reps),
    });
  }
  const best = (variant: string) => Math.max(...entries.filter((e) => e.variant === variant).map((e) => e.gflops));
  const peakBf16Gflops = spec.dtype === "bf16" ? best("matmulNTBf16") : null;
  const peak: PeakResult = {
    kind: "peak",
    entries,
    peakGflops: best("matmulNT"),
    peakBf16Gflops,
    kernels: kernelInfo(k),
  };
  if (spec.bandwidthMiB !== undefined) peak.bandwidth = measureBandwidth(k, spec.bandwidthMiB, spec.reps);
  return peak;
}
