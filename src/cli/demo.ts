/** `loratune demo`: LoRA on the bundled model and task, end to end, in a few minutes on a laptop CPU. */

import { join } from "node:path";
import type { Command } from "commander";
import { camelKey, type OptionDef, withDefaults } from "../api/options.ts";
import { trainOption } from "../api/train-options.ts";
import { markdownTable, runCompare } from "../demo/compare.ts";
import { PREFERENCE_DEMO_DEFAULTS, runPreferenceDemo } from "../demo/preference-demo.ts";
import { DEMO_DEFAULTS, runDemo } from "../demo/run-demo.ts";
import { DEMO_SWEEP_SPACE, runDemoSweep } from "../demo/sweep-demo.ts";
import { BEST_RANK_RULE, rankBests, rankBestsText, rankLrMarkdown, rankLrTable } from "../demo/sweep-table.ts";
import { LoratuneError } from "../errors.ts";
import { addOptions } from "./options.ts";
import { createProgress } from "./progress.ts";
import { jobLine, promotedText } from "./sweep.ts";

/** `loratune demo`'s options; defaults are the demo's own (DEMO_DEFAULTS), bounds those of train's options. */
export const DEMO_OPTIONS: readonly OptionDef[] = [
  {
    key: "out",
    kind: "string",
    help: "output folder: the task data, the run (run/) and the report; an earlier demo output there is replaced, nothing else",
    default: "loratune-demo",
    metavar: "dir",
  },
  {
    key: "compare",
    kind: "bool",
    help: "train LoRA at several ranks and full fine-tuning on the task and compare them",
  },
  {
    key: "dpo",
    kind: "bool",
    help: `preference tuning instead: DPO teaches the model to prefer the right card over one with another town; held-out preference accuracy before and after (--steps defaults to ${PREFERENCE_DEMO_DEFAULTS.steps} with it; a few minutes on 2 cores)`,
  },
  {
    key: "sweep",
    kind: "bool",
    help: "search rank × learning rate with ASHA, promoted per rank (about 10 minutes on 2 cores): each rank's best rate trained to the end, and the sweep report",
  },
  {
    key: "ranks",
    kind: "ints",
    help: "LoRA ranks for --compare and --sweep",
    default: [4, 16, 64],
    item: "rank",
    min: 1,
    metavar: "list",
  },
  {
    key: "steps",
    kind: "int",
    help: "LoRA training steps (--sweep: of a full trial; the sweep spends at most 4×)",
    default: DEMO_DEFAULTS.steps,
    min: 1,
  },
  { ...demoBounds("rank"), help: "LoRA rank", default: DEMO_DEFAULTS.rank, metavar: "r" },
  { ...demoBounds("lr"), help: "learning rate", default: DEMO_DEFAULTS.lr, metavar: "x" },
  {
    ...demoBounds("seed"),
    help: "seed of the task data, LoRA init and shuffling",
    default: DEMO_DEFAULTS.seed,
  },
];

/** A demo option that is handed to train(): its key, kind and bounds are train's. */
function demoBounds(key: string): OptionDef {
  const d = trainOption(key);
  if (!d) throw new Error(`demo: train has no option ${key}`);
  const { min, above, max, below } = d;
  return { key, kind: d.kind, help: d.help, min, above, max, below };
}

interface DemoFlags {
  out: string;
  compare?: boolean;
  dpo?: boolean;
  sweep?: boolean;
  ranks: number[];
  steps: number;
  rank: number;
  lr: number;
  seed: number;
}

/** The flags given, with the rest at DEMO_OPTIONS' defaults. */
function withDemoDefaults(given: Partial<DemoFlags>): DemoFlags {
  const values = withDefaults(DEMO_OPTIONS, {});
  const out: Record<string, unknown> = {};
  for (const d of DEMO_OPTIONS) out[camelKey(d.key)] = values[d.key];
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as unknown as DemoFlags;
}

/** `demo --dpo`: the preference demo with the flags given (its own step count unless --steps is given). */
async function demoDpo(o: DemoFlags, steps: number | undefined): Promise<void> {
  let progress: ReturnType<typeof createProgress> | null = null;
  await runPreferenceDemo({
    ...PREFERENCE_DEMO_DEFAULTS,
    out: o.out,
    seed: o.seed,
    rank: o.rank,
    lr: o.lr,
    steps: steps ?? PREFERENCE_DEMO_DEFAULTS.steps,
    say: (t) => console.log(t),
    onEvent: (e) => {
      if (e.type === "start")
        progress = createProgress({ json: false, isTTY: process.stderr.isTTY === true, totalSteps: e.totalSteps });
      else if (e.type === "step") progress?.step(e);
      else if (e.type === "end") progress?.done();
    },
  });
}

export function registerDemo(program: Command): void {
  const cmd = program
    .command("demo")
    .description("teach the bundled demo model a new task with LoRA: exact match before/after, merge, speed check");
  addOptions(cmd, DEMO_OPTIONS);
  cmd.action(async (given: Partial<DemoFlags>) => {
    const o = withDemoDefaults(given);
    if (o.sweep && (o.compare || o.dpo))
      throw new LoratuneError(
        "ERR_USAGE",
        `demo: --sweep runs on its own, not with --${o.compare ? "compare" : "dpo"}`,
      );
    if (o.dpo) {
      await demoDpo(o, given.steps);
      return;
    }
    if (o.sweep) {
      await demoSweep(o);
      return;
    }
    if (o.compare) {
      const rows = runCompare({
        out: o.out,
        seed: o.seed,
        steps: o.steps,
        ranks: o.ranks,
        loraLr: o.lr,
        fullLr: o.lr / 2,
        trainSize: DEMO_DEFAULTS.trainSize,
        testSize: DEMO_DEFAULTS.testSize,
        say: (t) => console.log(t),
      });
      console.log(`\n${markdownTable(rows)}\n\nreport: ${o.out}/report.html`);
      return;
    }
    let progress: ReturnType<typeof createProgress> | null = null;
    await runDemo({
      ...DEMO_DEFAULTS,
      ...o,
      say: (t) => console.log(t),
      onEvent: (e) => {
        if (e.type === "start")
          progress = createProgress({ json: false, isTTY: process.stderr.isTTY === true, totalSteps: e.totalSteps });
        else if (e.type === "step") progress?.step(e);
        else if (e.type === "end") progress?.done();
      },
    });
  });
}

/** `demo --sweep`: the sweep's jobs as they finish, then the rank × lr table and the recommendation. */
async function demoSweep(o: DemoFlags): Promise<void> {
  const say = (t: string) => console.log(t);
  const r = await runDemoSweep({
    ...DEMO_DEFAULTS,
    out: o.out,
    seed: o.seed,
    steps: o.steps,
    budget: 0,
    ranks: o.ranks,
    lrs: DEMO_SWEEP_SPACE.lr,
    say,
    onStart: (s) => say(`rungs ${s.settings.rungs.join(", ")} steps${promotedText(s.settings)}`),
    onJobDone: (job, trial) => say(jobLine(job, trial)),
  });
  say(
    `\nheld-out exact match (steps trained) by learning rate and rank:\n\n${rankLrMarkdown(rankLrTable(r.state, o.ranks, DEMO_SWEEP_SPACE.lr))}`,
  );
  say(`\n${BEST_RANK_RULE}`);
  say(`each rank's best rate: ${rankBestsText(rankBests(r.state, o.ranks))}`);
  say(`steps used: ${r.data.stepsUsed} of ${r.data.budget} (4 standard runs of ${o.steps})`);
  say(`\n${r.data.recommendation.text}`);
  say(`best trial's command: ${r.data.recommendation.command}`);
  say(`report: ${join(r.dir, "report.html")}`);
}
