/** `loratune merge`: write base + adapter as one plain Hugging Face model directory. */
import type { Command } from "commander";
import { MERGE_OPTIONS, type MergeOptions, merge } from "../api/merge.ts";
import { addOptions } from "./options.ts";

export function registerMerge(program: Command): void {
  const cmd = program
    .command("merge")
    .description("merge a PEFT LoRA adapter into the base weights (W + s·B·A) and write a plain model directory");
  addOptions(cmd, MERGE_OPTIONS);
  cmd.action(async (o: MergeOptions) => {
    const r = await merge(o);
    console.log(`merged ${r.modules} adapted modules; wrote ${r.out} (${r.dtype} weights)`);
  });
}
