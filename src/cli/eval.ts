/** `loratune eval`: mean next-token loss and perplexity of a model (+ adapter) on a JSONL dataset. */
import type { Command } from "commander";
import { evaluate } from "../api/evaluate.ts";
import { parseInteger } from "./parse.ts";

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("mean next-token loss and perplexity over all label tokens of a dataset")
    .requiredOption("--model <dir>", "model directory, or 'demo'")
    .requiredOption("--data <file>", "JSONL dataset (any shape `train` reads; pre-tokenized rows are used as they are)")
    .option("--adapter <dir>", "PEFT adapter directory to apply")
    .option("--dtype <name>", "in-memory dtype of the base weights: f32 or bf16", "f32")
    .option("--batch-size <n>", "rows per batch", parseInteger("--batch-size", 1), 4)
    .option(
      "--seq-len <n>",
      "truncate rows to this many tokens (default: the model's maximum)",
      parseInteger("--seq-len", 2),
    )
    .option("--json", "print one JSON object: {loss, perplexity, tokens}")
    .action(
      (o: {
        model: string;
        data: string;
        adapter?: string;
        dtype: "f32" | "bf16";
        batchSize: number;
        seqLen?: number;
        json?: boolean;
      }) => {
        const r = evaluate(o);
        if (o.json) console.log(JSON.stringify(r));
        else
          console.log(`loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}  (${r.tokens} label tokens)`);
      },
    );
}
