/** `loratune merge`: write base + adapter as one plain Hugging Face model directory. */
import type { Command } from "commander";
import { merge } from "../api/merge.ts";
import { requireOptions } from "./options.ts";

export function registerMerge(program: Command): void {
  const cmd = program
    .command("merge")
    .description("merge a PEFT LoRA adapter into the base weights (W + s·B·A) and write a plain model directory")
    .option("--model <dir>", "base model directory, or 'demo'")
    .option("--adapter <dir>", "PEFT adapter or run directory")
    .option("--out <dir>", "output model directory (config, tokenizer files and weights in the base's dtype)")
    .option("--overwrite", "replace a non-empty --out directory");
  requireOptions(cmd, "--model", "--adapter", "--out");
  cmd.action((o: { model: string; adapter: string; out: string; overwrite?: boolean }) => {
    const r = merge(o);
    console.log(`merged ${r.modules} adapted modules; wrote ${r.out} (${r.dtype} weights)`);
  });
}
