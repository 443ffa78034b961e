/**
 * `loratune sweep`: a search over LoRA settings (src/sweep/). Its option table lives here (a command of the CLI):
 * the searched settings, the sweep's own options, and every train option the trials share (train's defaults,
 * bounds and help). Values: flag > the config file's `sweep:` section > the config file's train keys > default.
 */
import type { Command } from "commander";
import {
  missingOptionsError,
  missingRequired,
  type OptionDef,
  type OptionValues,
  validateOptions,
  withDefaults,
} from "../api/options.ts";
import { configValues, readRawConfig } from "../api/run-config.ts";
import { TRAIN_OPTIONS } from "../api/train-options.ts";
import { LoratuneError } from "../errors.ts";
import { sweepReportData } from "../sweep/report-data.ts";
import { checkResumeOptions } from "../sweep/resume-check.ts";
import { readState, STRATEGIES, type SweepState } from "../sweep/state.ts";
import { resumeSweep, type SweepPlan, startSweep } from "../sweep/sweep.ts";
import { writeSweepReport } from "../sweep/write-report.ts";
import { TASK_METRICS, type TaskMetric } from "../train/task-metric.ts";
import { closestMatch } from "../util/closest.ts";
import { addOptions, givenValues } from "./options.ts";

/** The searched settings: lists, ranges, rank multiples (src/sweep/space.ts). */
const SPACE_OPTIONS: OptionDef[] = [
  { key: "rank", kind: "string", help: "LoRA ranks to try, e.g. 4,16,64", metavar: "list" },
  {
    key: "lr",
    kind: "string",
    help: "learning rates: a list (1e-4,1e-3) or a range (1e-4..1e-2:log)",
    metavar: "space",
  },
  { key: "alpha", kind: "string", help: "LoRA alphas: numbers or rank multiples, e.g. 2r,16", metavar: "list" },
  { key: "dropout", kind: "string", help: "LoRA dropouts: a list or a range in [0, 1)", metavar: "space" },
  {
    key: "targets",
    kind: "string",
    help: 'target sets separated by "|", e.g. "q_proj,v_proj|all-linear"',
    metavar: "sets",
  },
];

const SWEEP_OWN: OptionDef[] = [
  { key: "out", kind: "string", help: "sweep directory: trials/, sweep.json, report.html", metavar: "dir" },
  {
    key: "resume",
    kind: "string",
    help: "continue a killed or interrupted sweep with its own settings (options that would change them are refused)",
    metavar: "dir",
  },
  { key: "overwrite", kind: "bool", help: "replace --out if it is an earlier sweep", default: false },
  {
    key: "config",
    kind: "string",
    help: "YAML/JSON file: train options, and the search in a sweep: section",
    metavar: "file",
  },
  {
    key: "strategy",
    kind: "choice",
    help: "grid, random, or asha (successive halving)",
    default: "asha",
    choices: STRATEGIES,
  },
  { key: "steps", kind: "int", help: "optimizer steps of a full trial", default: 1000, min: 1 },
  { key: "min-steps", kind: "int", help: "asha: the lowest rung's steps (0: steps / reduction²)", default: 0, min: 0 },
  { key: "reduction", kind: "int", help: "asha: keep the top 1/reduction of each rung", default: 3, min: 2 },
  {
    key: "budget",
    kind: "int",
    help: "total steps of all trials (0: 4 × --steps; grid: the whole grid)",
    default: 0,
    min: 0,
  },
  { key: "trials", kind: "int", help: "most trials to start (0: as many as the budget allows)", default: 0, min: 0 },
  {
    key: "eval-every",
    kind: "int",
    help: "evaluate trials every N steps (0: steps / 30); rungs fall on evaluations",
    default: 0,
    min: 0,
  },
  {
    key: "metric",
    kind: "choice",
    help: "goal: validation loss, or exact match of greedy completions",
    default: "loss",
    choices: TASK_METRICS,
  },
  {
    key: "concurrency",
    kind: "int",
    help: "trials at once (0: from the cores and the memory estimate)",
    default: 0,
    min: 0,
  },
];

/** Train options the sweep sets itself, or searches: not shared flags. */
const NOT_SHARED = new Set([
  ...SPACE_OPTIONS.map((d) => d.key),
  ...SWEEP_OWN.map((d) => d.key),
  "json",
  "epochs",
  "early-stopping",
  "save-every",
  "keep-checkpoints",
]);
const SHARED = TRAIN_OPTIONS.filter((d) => !NOT_SHARED.has(d.key));

export const SWEEP_OPTIONS: readonly OptionDef[] = [
  ...SWEEP_OWN,
  ...SPACE_OPTIONS,
  ...SHARED,
  { key: "json", kind: "bool", help: "print the sweep's data (the report's) as one JSON object", cliOnly: true },
];

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
          `sweep: ${s.settings.strategy}, rungs ${s.settings.rungs.join(", ")} steps, budget ${s.settings.budget} steps, ${s.settings.concurrency} at once (${s.settings.threads} thread${s.settings.threads === 1 ? "" : "s"} each)`,
        ),
      onJobDone: (job: SweepState["jobs"][number], trial: SweepState["trials"][number]) => say(jobLine(job, trial)),
    };
    const dir = typeof given.resume === "string" ? given.resume : String(resolvePlan(given).out);
    if (typeof given.resume === "string") {
      // Before anything runs: options given with --resume may not change the sweep.
      checkResumeOptions(dir, readState(dir), validateOptions(SWEEP_OPTIONS, given), SWEEP_OPTIONS);
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

function jobLine(job: SweepState["jobs"][number], trial: SweepState["trials"][number]): string {
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
  const values = withDefaults(SWEEP_OPTIONS, {
    ...validateOptions(SWEEP_OPTIONS, fromFile),
    ...validateOptions(SWEEP_OPTIONS, section),
    ...validateOptions(SWEEP_OPTIONS, given),
  });
  const missing = missingRequired([...SHARED, { ...SWEEP_OWN[0]!, required: true }], values);
  if (missing.length > 0) throw missingOptionsError("sweep", missing, "on the command line or in --config");
  const space: Record<string, unknown> = {};
  for (const d of SPACE_OPTIONS) if (values[d.key] !== undefined) space[d.key] = section[d.key] ?? values[d.key];
  for (const d of SPACE_OPTIONS) if (given[d.key] !== undefined) space[d.key] = given[d.key];
  const train: OptionValues = {};
  for (const d of SHARED) if (values[d.key] !== undefined && !d.control) train[d.key] = values[d.key];
  for (const d of SPACE_OPTIONS)
    if (fromFile[d.key] !== undefined && space[d.key] === undefined) train[d.key] = fromFile[d.key];
  return {
    out: String(values.out),
    space,
    train,
    strategy: values.strategy as SweepPlan["strategy"],
    steps: Number(values.steps),
    minSteps: Number(values["min-steps"]),
    reduction: Number(values.reduction),
    evalEvery: Number(values["eval-every"]),
    budget: Number(values.budget),
    trials: Number(values.trials),
    metric: values.metric as TaskMetric,
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
    overwrite: values.overwrite === true,
  };
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
