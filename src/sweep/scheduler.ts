/**
 * The sweep's scheduler: decides jobs (new trials, promotions) in a fixed order and runs up to `concurrency` of
 * them at once. Decision i sees the results of jobs 0..(i − concurrency) only, widened one job at a time when
 * nothing can be decided (asha.ts), so the jobs, and the trial table, are the same however children interleave —
 * and the same again after a resume, which first re-runs the jobs a kill interrupted and then decides on.
 * Grid and random trials run one job each, to the full step count.
 */
import { Rng } from "../tensor/rng.ts";
import { ashaDecide, type Groups, groupedDecide, plannedSteps, type RungResult } from "./asha.ts";
import { gridConfigs, parseSpace, type SearchSpace, type SpaceKey, sampleConfig, type TrialConfig } from "./space.ts";
import type { Job, JobResult, SweepSettings, SweepState, Trial } from "./state.ts";

export interface SchedulerHooks {
  /** Runs one job to its rung step (in a child process). */
  run: (job: Job, trial: Trial) => Promise<JobResult>;
  /** Called whenever the state changed (a job was created or finished): persist it. */
  save: () => void;
  onJobDone?: (job: Job, trial: Trial) => void;
  /** True once the wall-time budget is spent: no further job starts (running ones finish). */
  outOfTime?: () => boolean;
  signal?: AbortSignal;
}

/** Lower is better: the validation loss, or minus the exact match (ties broken by the validation loss). */
export function jobScore(r: JobResult, metric: string): { score: number; tie: number } {
  return metric === "exact-match" ? { score: -(r.exactMatch ?? 0), tie: r.valLoss } : { score: r.valLoss, tie: 0 };
}

/** The trial configurations in the order trials start: the grid, or seeded draws (shuffled grid for lists). */
export function trialConfigs(space: SearchSpace, strategy: string, seed: number, count: number): TrialConfig[] {
  if (strategy === "grid") return gridConfigs(space);
  const rng = new Rng(seed * 7919 + 17);
  if (space.dims.every((d) => d.kind === "list")) {
    const grid = gridConfigs(space);
    for (let i = grid.length - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      [grid[i], grid[j]] = [grid[j]!, grid[i]!];
    }
    return grid.slice(0, count);
  }
  return Array.from({ length: count }, () => sampleConfig(space, rng));
}

/** The trials' groups for promotion per value of `key` (asha.ts): each trial's value, and how many trials have it. */
export function trialGroups(configs: readonly TrialConfig[], key: SpaceKey): Groups {
  const groupOf = configs.map((c) => String(c[key]));
  const sizes = new Map<string, number>();
  for (const g of groupOf) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  return { groupOf, sizes };
}

/**
 * The steps a sweep promoted per value spends when it runs to the end (asha.ts, plannedSteps), or null for plain
 * ASHA, whose promotions depend on the results.
 */
export function plannedSweepSteps(s: SweepSettings): number | null {
  if (s.strategy !== "asha" || !s.promotePer) return null;
  const configs = trialConfigs(parseSpace(s.space), s.strategy, s.seed, s.maxTrials);
  return plannedSteps(trialGroups(configs, s.promotePer).sizes.values(), s.rungs, s.eta);
}

export async function runScheduler(state: SweepState, hooks: SchedulerHooks): Promise<void> {
  const s = state.settings;
  const space = parseSpace(s.space);
  const configs = trialConfigs(space, s.strategy, s.seed, s.maxTrials);
  const groups = s.promotePer ? trialGroups(configs, s.promotePer) : null;
  const running = new Map<number, Promise<void>>();
  const start = (job: Job) => {
    const trial = state.trials[job.trial]!;
    const p = hooks
      .run(job, trial)
      .then(
        (result) => {
          job.status = "done";
          job.result = result;
        },
        (err: unknown) => {
          job.status = "failed";
          job.error = (err as Error).message;
        },
      )
      .then(() => {
        running.delete(job.id);
        hooks.save();
        hooks.onJobDone?.(job, trial);
      });
    running.set(job.id, p);
  };
  const waitFor = async (id: number) => {
    while (state.jobs[id]!.status === "pending") await running.get(id);
  };
  for (const job of state.jobs) if (job.status === "pending") start(job);
  const spent = () => state.jobs.reduce((n, j) => n + (j.toStep - j.fromStep), 0);
  for (;;) {
    if (hooks.signal?.aborted) break;
    if (running.size >= s.concurrency) {
      await Promise.race(running.values());
      continue;
    }
    const i = state.jobs.length;
    let known = Math.max(0, i - s.concurrency + 1);
    // Decision i sees exactly the jobs before `known`, all finished: a job started earlier may still run (a
    // promotion trains longer than the new trials started after it), so wait for it rather than decide without it.
    for (let k = 0; k < known; k++) await waitFor(k);
    let decision = decide(state, configs, groups, known);
    while (decision.kind === "none" && known < i) {
      await waitFor(known);
      known += 1;
      decision = decide(state, configs, groups, known);
    }
    if (decision.kind === "none" || hooks.outOfTime?.()) break;
    const job = makeJob(state, decision, i);
    if (spent() + job.toStep - job.fromStep > s.budget) break;
    if (decision.kind === "new") state.trials.push(newTrial(state.trials.length, configs));
    state.jobs.push(job);
    hooks.save();
    start(job);
  }
  await Promise.all(running.values());
}

type Decision = { kind: "promote"; trial: number; rung: number } | { kind: "new" } | { kind: "none" };

/** The next job from the results of jobs 0..known−1 (every one of them finished). */
function decide(state: SweepState, configs: TrialConfig[], groups: Groups | null, known: number): Decision {
  const s = state.settings;
  const canStart = state.trials.length < configs.length;
  if (s.strategy !== "asha") return canStart ? { kind: "new" } : { kind: "none" };
  const results: RungResult[] = [];
  const scheduled = new Set<string>();
  for (const j of state.jobs) scheduled.add(`${j.trial}@${j.rung}`);
  for (const j of state.jobs.slice(0, known)) {
    if (j.status === "done" && j.result)
      results.push({ trial: j.trial, rung: j.rung, ...jobScore(j.result, s.metric) });
  }
  const busy = new Set(state.jobs.slice(known).map((j) => j.trial));
  const view = { results, scheduled, busy, rungs: s.rungs.length, eta: s.eta, canStart };
  return groups ? groupedDecide(view, groups) : ashaDecide(view);
}

function makeJob(state: SweepState, d: Decision, id: number): Job {
  const rungs = state.settings.rungs;
  if (d.kind === "promote") {
    return {
      id,
      trial: d.trial,
      rung: d.rung,
      fromStep: rungs[d.rung - 1]!,
      toStep: rungs[d.rung]!,
      status: "pending",
    };
  }
  return { id, trial: state.trials.length, rung: 0, fromStep: 0, toStep: rungs[0]!, status: "pending" };
}

function newTrial(id: number, configs: TrialConfig[]): Trial {
  return { id, name: `t${String(id).padStart(3, "0")}`, config: configs[id]! };
}
