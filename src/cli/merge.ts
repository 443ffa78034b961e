/** `loratune merge`: write base + adapter as one plain Hugging Face model directory. */
import type { Command } from "commander";
import { merge } from "../api/merge.ts";

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .description("merge a PEFT LoRA adapter into the base weights (W + s·B·A) and write a plain model directory")
    .requiredOption("--model <dir>", "base model directory, or 'demo'")
    .requiredOption("--adapter <dir>", "PEFT adapter directory")
    .requiredOption("--out <dir>", "output model directory (config, tokenizer files and weights in the base's dtype)")
    .option("--overwrite", "replace a non-empty --out directory")
    .action((o: { model: string; adapter: string; out: string; overwrite?: boolean }) => {
      const r = merge(o);
      console.log(`merged ${r.modules} adapted modules; wrote ${r.out} (${r.dtype} weights)`);
    });
}
