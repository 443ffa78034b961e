/**
 * Settings that would never take effect in a run of `totalSteps` optimizer steps, found before training starts
 * (each a warning with the fix), and the note a resumed run gets when its length changes under a decaying
 * learning-rate schedule.
 *
 *   warmup_too_long       --warmup-steps ≥ the run's steps: the LR never reaches --lr
 *   eval_never            --eval-every beyond the last step (it evaluates once, at the end)
 *   eval_without_data     --eval-every or --early-stopping without validation data
 *   save_never            --save-every beyond the last step (the end is checkpointed anyway)
 *   early_stop_unreachable --early-stopping N needs more evaluations than the run makes
 */
import type { PreflightIssue } from "./preflight.ts";
import type { TrainSettings } from "./trainer.ts";

export interface RunPlan {
  totalSteps: number;
  /** Validation data exists. */
  hasVal: boolean;
}

const warning = (check: string, message: string): PreflightIssue => ({
  level: "warning",
  check,
  message,
  errorCode: "ERR_USAGE",
});

export function checkRunPlan(s: TrainSettings, plan: RunPlan): PreflightIssue[] {
  const out: PreflightIssue[] = [];
  const n = plan.totalSteps;
  if (s.warmupSteps >= n && s.warmupSteps > 0) {
    out.push(
      warning(
        "warmup_too_long",
        `--warmup-steps ${s.warmupSteps} is not shorter than the run (${n} steps): the learning rate never reaches --lr ${s.lr}. Lower --warmup-steps (a few % of the steps is usual).`,
      ),
    );
  }
  if (!plan.hasVal && (s.evalEvery > 0 || s.earlyStopping > 0)) {
    const flag = s.earlyStopping > 0 ? "--early-stopping" : "--eval-every";
    out.push(
      warning(
        "eval_without_data",
        `${flag} has no effect without validation data: add --val FILE or --val-split 0.05.`,
      ),
    );
  } else if (plan.hasVal && s.evalEvery > n) {
    out.push(
      warning(
        "eval_never",
        `--eval-every ${s.evalEvery} is beyond the last step (${n}): the run evaluates only once, at the end.`,
      ),
    );
  }
  if (plan.hasVal && s.earlyStopping > 0) {
    const evals = s.evalEvery > 0 ? Math.ceil(n / s.evalEvery) : 1;
    if (evals <= s.earlyStopping) {
      out.push(
        warning(
          "early_stop_unreachable",
          `--early-stopping ${s.earlyStopping} can never stop this run: it makes only ${evals} evaluation${evals === 1 ? "" : "s"}. Lower --eval-every or --early-stopping.`,
        ),
      );
    }
  }
  if (s.saveEvery > n) {
    out.push(
      warning(
        "save_never",
        `--save-every ${s.saveEvery} is beyond the last step (${n}): only the end of the run is checkpointed.`,
      ),
    );
  }
  return out;
}

/**
 * What happens to the learning rate when a run that had `oldTotal` steps continues to `newTotal`: a decaying
 * schedule is laid out again over the new length (as transformers does when max_steps grows), so the LR jumps
 * from where the old curve ended to where the new curve is at that step. Null when nothing changes.
 */
export function scheduleExtensionNote(
  s: TrainSettings,
  done: number,
  oldTotal: number,
  newTotal: number,
  lrAtStep: (step: number, total: number) => number,
): string | null {
  if (s.lrSchedule === "constant" || oldTotal === newTotal) return null;
  const before = lrAtStep(done - 1, oldTotal);
  const after = lrAtStep(done, newTotal);
  return (
    `the ${s.lrSchedule} learning-rate schedule is laid out again over ${newTotal} steps (it was ${oldTotal}): ` +
    `step ${done} ran at lr ${before.toExponential(2)}, step ${done + 1} runs at ${after.toExponential(2)}, ` +
    `decaying to 0 at step ${newTotal}`
  );
}
