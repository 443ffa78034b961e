/**
 * A sweep job in its own process: `train()` — the code behind `loratune train` — on the trial's run directory,
 * fresh (replacing what a killed first job left) or resumed from the trial's last checkpoint, stopped right after
 * the rung's step (the run is interrupted there, checkpointed and resumable; that step's evaluation has run since
 * rungs are multiples of --eval-every). Its last stdout line is the job's outcome as JSON.
 *
 * Argument: one JSON object {options: TrainOptions, stopAt: number, resume: boolean}.
 */
import { train } from "../api/train.ts";
import type { TrainOptions } from "../api/train-types.ts";
import { isLoratuneError } from "../errors.ts";

interface JobSpec {
  options: TrainOptions;
  stopAt: number;
  resume: boolean;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as JobSpec;
  const stop = new AbortController();
  const outcome = await train({
    ...spec.options,
    ...(spec.resume ? { resume: spec.options.out } : { overwrite: true }),
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === "step" && e.step >= spec.stopAt) stop.abort();
    },
    onMessage: (m) => process.stderr.write(`${m}\n`),
  });
  const line = {
    steps: outcome.steps,
    reason: outcome.reason,
    tokens_per_s: outcome.tokensPerS,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    trainable_params: outcome.summary.trainableParams,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`loratune: ${isLoratuneError(err) ? err.message : String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 1;
});
