/**
 * `sweep --resume DIR` with other options: a resumed sweep goes on with the settings in its sweep.json, so an option
 * that would change what it computes (the search space, the strategy and its cadence, the goal, the seed, the
 * concurrency its decisions lag by, a shared train setting) is refused when its value differs from the sweep's,
 * each named with both values, as `train --resume` does. Options that change nothing the sweep computes pass:
 * `--json`, `--memory-check`, and any option given with the sweep's own value.
 */
import { resolve } from "node:path";
import type { OptionDef, OptionValue, OptionValues } from "../api/options.ts";
import { LoratuneError } from "../errors.ts";
import { canonicalPath } from "../io/output-guard.ts";
import { rungSteps } from "./asha.ts";
import { dimensionText, parseDimension, SPACE_KEYS } from "./space.ts";
import type { SweepSettings, SweepState } from "./state.ts";
import { absolutePaths } from "./sweep.ts";

/** A comparison: the sweep's value and the one this command gives, as text (equal texts: no change). */
type Pair = [theirs: string, ours: string];

/** The sweep's own options with an automatic value (0) as sweepSettings resolves it. */
function auto(key: string, s: SweepSettings): number {
  if (key === "eval-every") return Math.max(1, Math.round(s.maxSteps / 30));
  if (key === "budget") return s.strategy === "grid" ? Number.MAX_SAFE_INTEGER : 4 * s.maxSteps;
  if (key === "trials") return s.strategy === "grid" ? Number.MAX_SAFE_INTEGER : 10_000;
  return 0;
}

/** The sweep's own options (not train's) as sweep.json holds them. */
function ownValues(s: SweepSettings): Record<string, number | string> {
  return {
    strategy: s.strategy,
    steps: s.maxSteps,
    reduction: s.eta,
    "promote-per": s.promotePer ?? "(none: ASHA over all trials)",
    "eval-every": s.evalEvery,
    budget: s.budget,
    "time-budget": s.timeBudgetMin ?? 0,
    trials: s.maxTrials,
    metric: s.metric,
    concurrency: s.concurrency,
  };
}

/** The sweep's value of one of its own options and the given one, or null when the option changes nothing. */
function ownPair(key: string, v: OptionValue, s: SweepSettings): Pair | null {
  const n = Number(v);
  if (key === "min-steps") {
    // It only places the rungs: compare the rungs it gives.
    if (s.strategy !== "asha") return null;
    const min = n > 0 ? n : Math.max(s.evalEvery, Math.floor(s.maxSteps / s.eta ** 2));
    return [`rungs ${s.rungs.join(", ")}`, `rungs ${rungSteps(s.maxSteps, min, s.eta, s.evalEvery).join(", ")}`];
  }
  const ours = ["eval-every", "budget", "trials"].includes(key) && n === 0 ? auto(key, s) : v;
  return [String(ownValues(s)[key]), String(ours)];
}

/** Every option given with --resume that differs from the sweep's, as "--key: the sweep used X, this command says Y". */
export function resumeConflicts(
  dir: string,
  state: SweepState,
  given: OptionValues,
  defs: readonly OptionDef[],
): string[] {
  const s = state.settings;
  const shared = absolutePaths(given);
  const out: string[] = [];
  const differ = (key: string, [theirs, ours]: Pair) => {
    if (theirs !== ours) out.push(`--${key}: the sweep used ${theirs}, this command says ${ours}`);
  };
  for (const d of defs) {
    const v = given[d.key];
    // --json and other cliOnly options say how the command prints, nothing the sweep computes.
    if (v === undefined || d.key === "resume" || (d.cliOnly && d.key !== "config")) continue;
    if (d.key === "out") {
      if (canonicalPath(resolve(String(v))) !== canonicalPath(resolve(dir)))
        out.push(
          `--out: the sweep is ${dir}, this command says ${v} (--resume continues the sweep in its own directory)`,
        );
    } else if (d.key === "config") {
      out.push(
        `--config: the sweep keeps the settings in ${dir}/sweep.json; a config file is read by a new sweep only`,
      );
    } else if (d.key === "overwrite") {
      if (v === true) out.push(`--overwrite: --resume continues ${dir}, it never replaces it`);
    } else if ((SPACE_KEYS as readonly string[]).includes(d.key)) {
      differ(d.key, [s.space[d.key] ?? "(not searched)", dimensionText(parseDimension(d.key, v))]);
    } else if (d.key === "min-steps" || d.key in ownValues(s)) {
      const pair = ownPair(d.key, v, s);
      if (pair) differ(d.key, pair);
    } else if (!d.control) {
      // A shared train setting (paths absolute, as sweep.json keeps them).
      differ(d.key, [String(s.train[d.key] ?? d.default ?? "(not set)"), String(shared[d.key])]);
    }
  }
  return out;
}

/** Refuses, in one message, every option given with --resume that would change the sweep. */
export function checkResumeOptions(dir: string, state: SweepState, given: OptionValues, defs: readonly OptionDef[]) {
  const conflicts = resumeConflicts(dir, state, given, defs);
  if (conflicts.length === 0) return;
  throw new LoratuneError(
    "ERR_USAGE",
    `--resume ${dir} continues the sweep with its own settings (sweep.json); these differ:\n  ${conflicts.join("\n  ")}\n` +
      "Only options that do not change the sweep (--json, --memory-check) may be added; to search other settings start a new sweep (--out NEW_DIR).",
  );
}
