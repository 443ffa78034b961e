/**
 * The machine's memory bandwidth as loratune's own threaded kernels reach it, measured in the same bench run as
 * the matmul peak (peak.ts), STREAM-style: arrays far beyond the last-level cache, best of a few repetitions after
 * one untimed pass, bytes counted as STREAM counts them (each array read or written once; the write-allocate read
 * of the destination is not counted).
 * - triad: a = b·c (the kernels' `mul`: STREAM's triad a = b + s·c has the same traffic, two reads and one write
 *   per element, 12 bytes in f32);
 * - copy: a = b (the kernels' `copy`: one read and one write, 8 bytes);
 * - read: Σ a (the kernels' `sum`: one read per element, 4 bytes, nothing written), the access of a decoded token,
 *   which streams every weight once and writes almost nothing. Decode rows are reported against it
 *   (decode-bytes.ts): a machine's read-only rate can differ much from its triad (on a 2-core Zen 4 VM, 33 GB/s
 *   read against 46 GB/s triad, as STREAM counts it).
 * All run on the kernels' thread pool (the native ones; the TypeScript reference is single-threaded and far from
 * the machine's bandwidth), on arrays allocated as the weights are (tensor/aligned.ts: on memory advised for 2 MiB
 * pages, unless LORATUNE_HUGE_PAGES=0), so decode is held to the rate its own weights' pages allow.
 */
import type { Kernels } from "../kernels/types.ts";
import { alignedFloat32 } from "../tensor/aligned.ts";
import { bestGigaRate } from "./peak.ts";
import type { BandwidthResult } from "./spec.ts";

/** Each of the three arrays: 256 MiB (768 MiB in all, far past any last-level cache); --quick: 32 MiB. */
export const BANDWIDTH_ARRAY_MIB = 256;
export const QUICK_BANDWIDTH_ARRAY_MIB = 32;

export function measureBandwidth(k: Kernels, arrayMiB: number, reps: number): BandwidthResult {
  const n = (arrayMiB * 2 ** 20) / 4;
  // Distinct non-zero values, so no page stays a shared zero page and no product is trivially zero.
  const a = alignedFloat32(n);
  const b = alignedFloat32(n).fill(1.5);
  const c = alignedFloat32(n).fill(0.75);
  const triadGBs = bestGigaRate(() => k.mul(a, b, c, n), 12 * n, reps);
  const copyGBs = bestGigaRate(() => k.copy(a, b, n), 8 * n, reps);
  const readGBs = bestGigaRate(() => k.sum(b, n), 4 * n, reps);
  return { arrayMiB, triadGBs, copyGBs, readGBs };
}
