/**
 * `sweep()`: the library's way to start a sweep, as `loratune sweep` does (the same option table, SWEEP_OPTIONS):
 * only what differs from the defaults is given, bounds are checked, and errors name the options as the caller
 * passed them (`minSteps`, `rank: "x" is not a number`). It runs every trial, writes report.html and returns the
 * report's data. A killed or aborted sweep goes on with `resumeSweep(dir)`.
 */
import { inCallerTerms } from "../api/option-names.ts";
import { camelKey, type OptionValues, resolveOptions } from "../api/options.ts";
import type { SweepReportData } from "../report/sweep-report.ts";
import { planOf, SPACE_OPTIONS, SWEEP_OPTIONS, type SweepOptions } from "./options.ts";
import { sweepReportData } from "./report-data.ts";
import type { SweepState } from "./state.ts";
import { type SweepHooks, startSweep } from "./sweep.ts";
import { writeSweepReport } from "./write-report.ts";

export interface SweepResult {
  /** The sweep directory (`out`). */
  dir: string;
  /** sweep.json as it ended: settings, trials, jobs. */
  state: SweepState;
  /** What report.html shows and `sweep --json` prints. */
  data: SweepReportData;
}

/** Starts a sweep in `out` and runs it to the end (or until `signal` aborts it; resume with `resumeSweep`). */
export function sweep(options: SweepOptions & SweepHooks): Promise<SweepResult> {
  return inCallerTerms(SWEEP_OPTIONS, async () => {
    const o = resolveOptions<Record<string, unknown>>("sweep", SWEEP_OPTIONS, options);
    const values: OptionValues = {};
    for (const d of SWEEP_OPTIONS) values[d.key] = o[camelKey(d.key)] as OptionValues[string];
    const space: Record<string, unknown> = {};
    for (const d of SPACE_OPTIONS) if (values[d.key] !== undefined) space[d.key] = values[d.key];
    const { onJobDone, onStart, signal } = options;
    const hooks: SweepHooks = { ...(onJobDone ? { onJobDone } : {}), ...(onStart ? { onStart } : {}) };
    const state = await startSweep(planOf(values, space), signal ? { ...hooks, signal } : hooks);
    const data = sweepReportData(options.out, state);
    writeSweepReport(options.out, data);
    return { dir: options.out, state, data };
  });
}
