/**
 * Learning-rate schedules with linear warmup, as transformers' get_{constant,linear,cosine}_schedule_with_warmup:
 * the LR used for optimizer step s (0-based) is lr · λ(s), with λ rising linearly over the warmup steps (to (s+1)/warmup:
 * unlike transformers, the first step does not waste itself at LR 0), then
 * constant, linear decay to 0, or half-cosine decay to 0 at totalSteps.
 */
export type LrSchedule = "constant" | "linear" | "cosine";
export const LR_SCHEDULES: readonly LrSchedule[] = ["constant", "linear", "cosine"];

export function lrAt(step: number, lr: number, schedule: LrSchedule, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return (lr * (step + 1)) / Math.max(1, warmupSteps);
  if (schedule === "constant") return lr;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (schedule === "linear") return lr * Math.max(0, 1 - progress);
  return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}
