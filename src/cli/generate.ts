/** `loratune generate`: sample a continuation with the KV cache, optionally through an (unmerged) adapter. */
import type { Command } from "commander";
import { generate } from "../api/generate.ts";
import { parseIdList, parseInteger, parseNumber } from "./parse.ts";

interface GenerateFlags {
  model: string;
  adapter?: string;
  prompt?: string;
  promptIds?: number[];
  chat?: boolean;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number;
  dtype: "f32" | "bf16";
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("generate text from a prompt (temperature 0 = greedy); stops at EOS")
    .requiredOption("--model <dir>", "model directory, or 'demo'")
    .option("--adapter <dir>", "PEFT adapter directory to apply (unmerged)")
    .option("--prompt <text>", "prompt text (needs the model's tokenizer.json)")
    .option("--prompt-ids <ids>", "prompt as comma-separated token ids", parseIdList("--prompt-ids"))
    .option("--chat", "wrap --prompt as a user message with the model's chat template")
    .option("--max-tokens <n>", "tokens to generate at most", parseInteger("--max-tokens", 1), 64)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", parseNumber("--temperature", 0), 0)
    .option("--top-k <k>", "sample among the k most likely tokens (0 = off)", parseInteger("--top-k", 0), 0)
    .option("--top-p <p>", "nucleus sampling threshold (1 = off)", parseNumber("--top-p", 0), 1)
    .option(
      "--repetition-penalty <x>",
      "penalty for tokens already present (1 = off)",
      parseNumber("--repetition-penalty", 0),
      1,
    )
    .option("--seed <n>", "sampling seed", parseInteger("--seed", 0), 0)
    .option("--dtype <name>", "in-memory dtype of the base weights: f32 or bf16", "f32")
    .option("--json", 'print {"ids": [...], "text": "...", "stoppedBy": "eos" | "max_tokens" | "context"}')
    .action((o: GenerateFlags) => {
      const out = generate(o);
      if (o.json) console.log(JSON.stringify({ ids: out.ids, text: out.text, stoppedBy: out.stoppedBy }));
      else console.log(out.text ?? out.ids.join(","));
      if (out.stoppedBy === "context") {
        process.stderr.write(
          `loratune: stopped after ${out.ids.length} tokens: the model's context (${out.promptIds.length + out.ids.length} tokens) is full\n`,
        );
      }
    });
}
