/** `loratune eval`: mean next-token loss and perplexity of a model (+ adapter) on a JSONL dataset. */
import type { Command } from "commander";
import { evaluate } from "../api/evaluate.ts";
import { createEvalProgress } from "./eval-progress.ts";
import { requireOptions } from "./options.ts";
import { parseChoice, parseInteger } from "./parse.ts";

interface EvalFlags {
  model: string;
  data: string;
  adapter?: string;
  chatTemplate?: string;
  dtype: "f32" | "bf16";
  batchSize: number;
  seqLen?: number;
  json?: boolean;
}

export function registerEval(program: Command): void {
  const cmd = program
    .command("eval")
    .description("mean next-token loss and perplexity over all label tokens of a dataset")
    .option("--model <dir>", "model directory, or 'demo'")
    .option("--data <file>", "JSONL dataset (any shape `train` reads; pre-tokenized rows are used as they are)")
    .option("--adapter <dir>", "PEFT adapter or run directory to apply")
    .option(
      "--chat-template <file>",
      "chat template for {\"messages\"} rows (default: the adapter's chat_template.jinja, else the model's)",
    )
    .option(
      "--dtype <name>",
      "in-memory dtype of the base weights: f32 or bf16",
      parseChoice("--dtype", ["f32", "bf16"] as const),
      "f32",
    )
    .option("--batch-size <n>", "rows per batch", parseInteger("--batch-size", 1), 4)
    .option(
      "--seq-len <n>",
      "truncate rows to this many tokens (default: the model's maximum)",
      parseInteger("--seq-len", 2),
    )
    .option("--json", 'print one JSON object: {"loss", "perplexity", "tokens"}')
    .addHelpText(
      "after",
      `
Progress goes to stderr: a live bar when stderr is a terminal (also with --json); otherwise a line every 10 s
once the evaluation has run that long, and nothing with --json.
With --adapter runs/x, {"messages"} rows use the chat template the run was trained with (runs/x/chat_template.jinja).`,
    );
  requireOptions(cmd, "--model", "--data");
  cmd.action((o: EvalFlags) => {
    const progress = createEvalProgress({
      stream: process.stderr,
      isTTY: process.stderr.isTTY === true,
      json: o.json === true,
    });
    let r: ReturnType<typeof evaluate>;
    try {
      r = evaluate({ ...o, onProgress: (p) => progress.update(p) });
    } finally {
      progress.done();
    }
    if (o.json) console.log(JSON.stringify({ loss: r.loss, perplexity: r.perplexity, tokens: r.tokens }));
    else console.log(`loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}  (${r.tokens} label tokens)`);
  });
}
