/**
 * `loratune sweep`: a search over LoRA settings (src/sweep/), its flags from SWEEP_OPTIONS (src/sweep/options.ts:
 * the searched settings, the sweep's own options, and every train option the trials share). Values: flag > the
 * config file's `sweep:` section > the config file's train keys > default. With --resume, the sweep's own settings,
 * and options that would change them are refused (src/sweep/resume-check.ts).
 */
import type { Command } from "commander";
import {
  missingOptionsError,
  missingRequired,
  type OptionValues,
  validateOptions,
  withDefaults,
} from "../api/options.ts";
import { configValues, readRawConfig } from "../api/run-config.ts";
import { LoratuneError } from "../errors.ts";
import { planOf, SPACE_OPTIONS, SWEEP_OPTIONS, SWEEP_OWN } from "../sweep/options.ts";
import { sweepReportData } from "../sweep/report-data.ts";
import { checkResumeOptions } from "../sweep/resume-check.ts";
import { plannedSweepSteps } from "../sweep/scheduler.ts";
import { readState, type SweepSettings, type SweepState, writeState } from "../sweep/state.ts";
import { resumeSweep, type SweepPlan, startSweep } from "../sweep/sweep.ts";
import { writeSweepReport } from "../sweep/write-report.ts";
import { closestMatch } from "../util/closest.ts";
import { addOptions, givenValues } from "./options.ts";

export { SWEEP_OPTIONS };

const SECTION_KEYS = [...SPACE_OPTIONS, ...SWEEP_OWN]
  .map((d) => d.key)
  .filter((k) => !["out", "resume", "config", "overwrite"].includes(k));

export function registerSweep(program: Command): void {
  const cmd = program
    .command("sweep")
    .description("search LoRA settings (rank, lr, alpha, dropout, targets): grid, random or ASHA, with a report")
    .addHelpText(
      "after",
      `
Search space: --rank 4,16,64  --lr 1e-4..1e-2:log (or :lin, or a list)  --alpha 2r,16 (2r = twice the rank)
--dropout 0,0.05  --targets "q_proj,v_proj|all-linear"; or in a config file's sweep: section (same keys, lists allowed).
Trials are ordinary run directories (DIR/trials/t000, ...) trained by train in child processes, every one with the
shared options given here. asha starts trials at the lowest rung (--steps / reduction^k) and promotes the top
1/reduction of each rung on --metric (ties by validation loss); decisions wait for the results they need in a fixed
order, so a sweep gives the same trials whatever finishes first, and --resume DIR after a kill gives the same table.
--promote-per rank halves each rank's trials on their own instead: once all of a rank's trials at a rung have
reported, its top 1/reduction (at least one) go on, so every rank trains its best learning rate to --steps (the
steps this takes are known in advance and printed at the start; the lists or --trials N fix the trials).
Pruned trials keep their runs and curves. DIR/report.html: the trials, curves, rank x lr heat map, what mattered,
and the best trial's command line.

Example:
  loratune sweep --model demo --data train.jsonl --val test.jsonl --out sweeps/a --steps 3000 --metric exact-match \\
      --rank 4,16,64 --lr 1e-4..1e-2:log --alpha 2r,16 --targets all-linear`,
    );
  addOptions(cmd, SWEEP_OPTIONS, { deferred: true });
  cmd.action(async () => {
    const given = givenValues(cmd, SWEEP_OPTIONS);
    const say = given.json ? (t: string) => process.stderr.write(`${t}\n`) : (t: string) => console.log(t);
    const hooks = {
      onStart: (s: SweepState) =>
        say(
          `sweep: ${s.settings.strategy}, rungs ${s.settings.rungs.join(", ")} steps${promotedText(s.settings)}, budget ${s.settings.budget} steps${s.settings.timeBudgetMin ? ` or ${s.settings.timeBudgetMin} min` : ""}, ${s.settings.concurrency} at once (${s.settings.threads} thread${s.settings.threads === 1 ? "" : "s"} each)`,
        ),
      onJobDone: (job: SweepState["jobs"][number], trial: SweepState["trials"][number]) => say(jobLine(job, trial)),
    };
    const dir = typeof given.resume === "string" ? given.resume : String(resolvePlan(given).out);
    if (typeof given.resume === "string") {
      // Before anything runs: options given with --resume may not change the sweep.
      const stored = readState(dir);
      const o = validateOptions(SWEEP_OPTIONS, given);
      checkResumeOptions(dir, stored, o, SWEEP_OPTIONS);
      // --(no-)memory-check changes nothing a trial computes, only whether it may start: the trials to come take it.
      if (o["memory-check"] !== undefined) {
        stored.settings.train["memory-check"] = o["memory-check"];
        writeState(dir, stored);
      }
    }
    const state =
      typeof given.resume === "string"
        ? await resumeSweep(given.resume, hooks)
        : await startSweep(resolvePlan(given), hooks);
    const data = sweepReportData(dir, state);
    writeSweepReport(dir, data);
    if (given.json) console.log(JSON.stringify(data));
    else {
      say(`\n${data.recommendation.text}`);
      say(`best trial's command: ${data.recommendation.command}`);
      say(`report: ${dir}/report.html`);
    }
  });
}

/** ", promoted per rank (plan: N steps)" for a sweep promoted per value, with a warning when the budget cuts it. */
export function promotedText(s: SweepSettings): string {
  const plan = plannedSweepSteps(s);
  if (plan === null) return "";
  const cut = plan > s.budget ? `, more than the budget: the last promotions will not all run` : "";
  return `, promoted per ${s.promotePer} (plan: ${plan} steps${cut})`;
}

/** One finished job, as the sweep prints it: the trial, its settings, the step and its evaluation. */
export function jobLine(job: SweepState["jobs"][number], trial: SweepState["trials"][number]): string {
  const cfg = Object.entries(trial.config)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  if (job.status === "failed")
    return `${trial.name} (${cfg}) steps ${job.fromStep}-${job.toStep}: failed: ${job.error}`;
  const r = job.result!;
  const em = r.exactMatch !== undefined ? `  exact match ${(100 * r.exactMatch).toFixed(0)}%` : "";
  return `${trial.name} (${cfg}) step ${job.toStep}: val loss ${r.valLoss.toFixed(4)}${em}`;
}

/** Flags, the config file's sweep: section and train keys, and the defaults, as one plan. */
function resolvePlan(given: OptionValues): SweepPlan {
  let fromFile: OptionValues = {};
  let section: OptionValues = {};
  if (typeof given.config === "string") {
    const raw = readRawConfig(given.config);
    section = sweepSection(raw.sweep, given.config);
    delete raw.sweep;
    fromFile = configValues(raw, given.config);
  }
  // A searchable setting given as a plain train key (rank: 8) is a shared value, checked as train checks it;
  // searched values belong in the sweep: section or the flags.
  const searchable = new Set(SPACE_OPTIONS.map((d) => d.key));
  const shared = Object.fromEntries(Object.entries(fromFile).filter(([k]) => !searchable.has(k)));
  const values = withDefaults(SWEEP_OPTIONS, {
    ...validateOptions(SWEEP_OPTIONS, shared),
    ...validateOptions(SWEEP_OPTIONS, section),
    ...validateOptions(SWEEP_OPTIONS, given),
  });
  const missing = missingRequired(SWEEP_OPTIONS, values);
  if (missing.length > 0) throw missingOptionsError("sweep", missing, "on the command line or in --config");
  const space: Record<string, unknown> = {};
  for (const d of SPACE_OPTIONS) if (values[d.key] !== undefined) space[d.key] = section[d.key] ?? values[d.key];
  for (const d of SPACE_OPTIONS) if (given[d.key] !== undefined) space[d.key] = given[d.key];
  // A searched setting the config file gives as a plain train key (rank: 8) is shared when not searched.
  const fixed: OptionValues = {};
  for (const d of SPACE_OPTIONS)
    if (fromFile[d.key] !== undefined && space[d.key] === undefined) fixed[d.key] = fromFile[d.key];
  return planOf(values, space, fixed);
}

/** The config file's sweep: section: the searched settings (lists allowed) and the sweep's own options. */
function sweepSection(raw: unknown, path: string): OptionValues {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new LoratuneError("ERR_USAGE", `${path}: sweep: expected a mapping of settings to values`);
  const out: OptionValues = {};
  for (const [rawKey, value] of Object.entries(raw as Record<string, unknown>)) {
    const key = rawKey.replace(/_/g, "-");
    if (!SECTION_KEYS.includes(key)) {
      const hint = closestMatch(key, SECTION_KEYS, 3);
      throw new LoratuneError(
        "ERR_USAGE",
        `${path}: sweep: unknown setting "${rawKey}"${hint ? ` (did you mean "${hint}"?)` : ""}; it takes ${SECTION_KEYS.join(", ")}`,
      );
    }
    const isSpace = SPACE_OPTIONS.some((d) => d.key === key);
    out[key] = Array.isArray(value)
      ? value.join(key === "targets" ? "|" : ",")
      : isSpace
        ? String(value)
        : (value as never);
  }
  return out;
}
