/**
 * Puts the training summary's memory estimate (src/train/memory.ts, as `loratune train` prints it) next to the
 * measured peak RSS of the same workload; the issue asks for agreement within 20%.
 */
export { estimateTrainingPeakBytes, RUNTIME_BASE_BYTES } from "../train/memory.ts";

/** measured / estimated − 1: positive when the estimate is too low. */
export function estimateError(measuredBytes: number, estimatedBytes: number): number {
  return measuredBytes / estimatedBytes - 1;
}
