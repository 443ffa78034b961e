/** `loratune demo`: LoRA on the bundled model and task, end to end, in a few minutes on a laptop CPU. */
import type { Command } from "commander";
import { markdownTable, runCompare } from "../demo/compare.ts";
import { DEMO_DEFAULTS, runDemo } from "../demo/run-demo.ts";
import { parseIdList, parseInteger, parseNumber } from "./parse.ts";
import { createProgress } from "./progress.ts";

interface DemoFlags {
  out: string;
  compare?: boolean;
  ranks: number[];
  steps: number;
  rank: number;
  lr: number;
  seed: number;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("teach the bundled demo model a new task with LoRA: exact match before/after, merge, speed check")
    .option(
      "--out <dir>",
      "output folder: the task data, the run (run/) and the report; an earlier demo output there is replaced, nothing else",
      "loratune-demo",
    )
    .option("--compare", "train LoRA at several ranks and full fine-tuning on the task and compare them")
    .option("--ranks <list>", "LoRA ranks for --compare", parseIdList("--ranks", "rank", 1), [4, 16, 64])
    .option("--steps <n>", "LoRA training steps", parseInteger("--steps", 1), DEMO_DEFAULTS.steps)
    .option("--rank <r>", "LoRA rank", parseInteger("--rank", 1), DEMO_DEFAULTS.rank)
    .option("--lr <x>", "learning rate", parseNumber("--lr", 0), DEMO_DEFAULTS.lr)
    .option(
      "--seed <n>",
      "seed of the task data, LoRA init and shuffling",
      parseInteger("--seed", 0),
      DEMO_DEFAULTS.seed,
    )
    .action(async (o: DemoFlags) => {
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
