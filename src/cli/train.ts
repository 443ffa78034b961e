/** `loratune train`: fine-tune with LoRA (or fully) and write a run directory. Ctrl-C checkpoints and exits. */
import type { Command } from "commander";
import { camelKey, type OptionValues } from "../api/options.ts";
import { type TrainOptions, type TrainSummary, train } from "../api/train.ts";
import { ALPACA_FORMAT_HELP } from "../data/encode.ts";
import { createProgress } from "./progress.ts";
import { addTrainOptions, resolveTrainOptions } from "./train-options.ts";

export function registerTrain(program: Command): void {
  const cmd = program
    .command("train")
    .description(
      "fine-tune a model with LoRA (or --full) on a JSONL or Parquet dataset; writes a PEFT adapter and a run report",
    );
  addTrainOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Data: JSONL or Parquet rows of {"text"}, {"prompt","completion"}, {"messages":[...]}, ShareGPT {"conversations":[{"from","value"}]},
Alpaca {"instruction","input","output"}, or pre-tokenized {"input_ids","labels"?}; the shape is detected per file and
shown in the summary. Parquet rows are their columns (a "messages" column is a list of {role, content} structs);
a folder in the Hugging Face layout (data/train-*.parquet, data/validation-*.parquet) is its train split, with its
validation (else test) split as --val. Loss is taken on completions / assistant turns unless --train-on-prompt. Chat rows use the
model's chat template (or --chat-template); the loss covers each assistant turn and its end-of-turn token.
${ALPACA_FORMAT_HELP}.
Preference tuning (--method dpo|ipo|orpo): rows {"prompt","chosen","rejected"} of strings, or chat pairs ("prompt" a
list of messages, "chosen"/"rejected" assistant messages or strings; or {"chosen","rejected"} conversations sharing
their leading messages). Each pair is two sequences (the summary counts them as examples; --batch-size counts pairs);
only completion tokens count. dpo and ipo compare against the model with its adapter switched off. metrics.jsonl
and the report add reward accuracy, margins, rewards and log-probs (val_ for held-out pairs).
Every option can also be set in a YAML/JSON --config file (keys as the flags, without "--"; relative paths resolve
against the file's folder); flags win.

Run directory (--out): the PEFT adapter, config.yaml (the run's settings, itself a valid --config), metrics.jsonl,
report.html, chat_template.jinja, checkpoints/ and loratune.json (the run's status). The last state is always
checkpointed, so "loratune train --resume DIR" continues an interrupted run with its own settings, and
"--resume DIR --steps N" extends a finished one. --overwrite only ever replaces an earlier loratune run: never a
folder loratune did not write, one that holds an input, or the current folder.

Examples:
  loratune train --model demo --data train.jsonl --out runs/first --steps 200 --lr 1e-3 --targets all-linear
  loratune train --resume runs/first --steps 400           # extend the finished run to 400 steps
  loratune train --config runs/first/config.yaml --out runs/again --seed 1`,
  );
  cmd.action(async () => {
    const values = resolveTrainOptions(cmd);
    const options = toTrainOptions(values);
    await runWithProgress(options);
  });
}

/** Option values (kebab keys) → TrainOptions (camelCase). */
function toTrainOptions(v: OptionValues): TrainOptions {
  const camel: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v)) if (value !== undefined) camel[camelKey(key)] = value;
  return camel as unknown as TrainOptions;
}

async function runWithProgress(o: TrainOptions & { json?: boolean }): Promise<void> {
  const controller = new AbortController();
  const log = (text: string) => (o.json ? console.error(text) : console.log(text));
  let interrupted = 0;
  const onSignal = (sig: string) => {
    interrupted += 1;
    if (interrupted > 1) process.exit(130);
    log(`\n${sig}: finishing the current step and writing a checkpoint (press again to quit at once)…`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let progress: ReturnType<typeof createProgress> | null = null;
  try {
    const result = await train(o, {
      signal: controller.signal,
      onSummary: (s) => log(formatSummary(s)),
      onEvent: (e) => {
        if (e.type === "start") {
          progress = createProgress({
            json: o.json === true,
            isTTY: process.stdout.isTTY === true,
            totalSteps: e.totalSteps,
          });
          if (e.startStep > 0) progress.message(`resuming at step ${e.startStep} of ${e.totalSteps}`);
        } else if (e.type === "step") progress?.step(e);
        else if (e.type === "eval") progress?.eval(e);
        else if (e.type === "checkpoint") progress?.message(`checkpoint: ${e.dir}`);
        else if (e.type === "end") progress?.done();
      },
    });
    if (result.reason === "interrupted") {
      log(`interrupted at step ${result.steps}; continue with: loratune train --resume ${o.out}`);
      process.exitCode = 130;
      return;
    }
    if (result.reason === "already_complete") {
      log(
        `${o.out} is already complete (${result.steps} of ${result.totalSteps} steps${result.steps < result.totalSteps ? ", stopped early" : ""}); nothing was changed. Extend it with --steps N (more than ${result.steps}) or --epochs N.`,
      );
      if (o.json) console.log(JSON.stringify({ type: "done", steps: result.steps, reason: result.reason }));
      return;
    }
    if (o.json) {
      // The last stdout line of a --json run: the outcome, with this process's peak memory.
      console.log(
        JSON.stringify({
          type: "done",
          steps: result.steps,
          reason: result.reason,
          loss: result.lastLoss,
          best_val_loss: result.bestValLoss,
          tokens_per_s: result.tokensPerS,
          peak_rss_mb: process.resourceUsage().maxRSS / 1024,
          trainable_params: result.summary.trainableParams,
        }),
      );
    }
    log(
      `done: ${result.steps} steps (${result.reason}), final loss ${result.lastLoss.toFixed(4)}${result.bestValLoss !== null ? `, best val loss ${result.bestValLoss.toFixed(4)}` : ""}`,
    );
    log(`${o.full ? "model" : "adapter"}, metrics.jsonl, config.yaml and report.html written to ${result.outDir}`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export function formatSummary(s: TrainSummary): string {
  const share = (100 * s.trainableParams) / s.totalParams;
  return [
    `model        ${s.model} (${(s.totalParams / 1e6).toFixed(2)}M parameters)`,
    `training     ${s.mode === "lora" ? "LoRA" : "full fine-tuning"}: ${s.trainableParams.toLocaleString("en-US")} trainable parameters (${share.toFixed(share < 1 ? 3 : 1)}%)`,
    `data         ${s.trainExamples} examples, ${s.trainTokens} tokens (${s.labelTokens} with loss), ${s.truncated} truncated${s.valExamples ? `; ${s.valExamples} validation examples` : ""}`,
    ...s.dataFiles.map(
      (f) =>
        `             ${f.path}: ${f.rows} ${f.shape} rows${f.promptFormat ? ` (prompt format: ${f.promptFormat})` : ""}`,
    ),
    `memory       about ${(s.estimatedPeakBytes / 2 ** 20).toFixed(0)} MiB at peak (estimate)`,
  ].join("\n");
}
