/** `loratune demo`: LoRA on the bundled model and task, end to end, in a few minutes on a laptop CPU. */
import type { Command } from "commander";
import { DEMO_DEFAULTS, isDemoRunDir, runDemo } from "../demo/run-demo.ts";
import { LoratuneError } from "../errors.ts";
import { isNonEmptyDir } from "../io/output-dir.ts";
import { parseInteger, parseNumber } from "./parse.ts";
import { createProgress } from "./progress.ts";

interface DemoFlags {
  out: string;
  overwrite?: boolean;
  steps: number;
  rank: number;
  lr: number;
  seed: number;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("teach the bundled demo model a new task with LoRA: exact match before/after, merge, speed check")
    .option("--out <dir>", "run directory (a previous demo run there is replaced)", "loratune-demo")
    .option("--overwrite", "replace --out even if it is not a previous demo run")
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
      if (isNonEmptyDir(o.out) && !isDemoRunDir(o.out) && !o.overwrite) {
        throw new LoratuneError(
          "ERR_OUTPUT_EXISTS",
          `${o.out} exists and is not a previous demo run (pass --overwrite or another --out)`,
        );
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
