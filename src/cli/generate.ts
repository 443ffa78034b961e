/** `loratune generate`: sample a continuation with the KV cache, optionally through an (unmerged) adapter. */
import type { Command } from "commander";
import { generate } from "../api/generate.ts";
import { requireOptions } from "./options.ts";
import { parseChoice, parseIdList, parseInteger, parseNumberIn } from "./parse.ts";

const DTYPES = ["f32", "bf16"] as const;

interface GenerateFlags {
  model: string;
  adapter?: string;
  prompt?: string;
  promptIds?: number[];
  chat?: boolean;
  chatTemplate?: string;
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
  const cmd = program
    .command("generate")
    .description("generate text from a prompt (temperature 0 = greedy); stops at EOS")
    .option("--model <dir>", "model directory, or 'demo'")
    .option("--adapter <dir>", "PEFT adapter or run directory to apply (unmerged)")
    .option("--prompt <text>", "prompt text (needs the model's tokenizer.json); or --prompt-ids")
    .option("--prompt-ids <ids>", "prompt as comma-separated token ids; or --prompt", parseIdList("--prompt-ids"))
    .option("--chat", "wrap --prompt as a user message with the chat template")
    .option(
      "--chat-template <file>",
      "chat template for --chat (default: the adapter's chat_template.jinja, else the model's)",
    )
    .option("--max-tokens <n>", "tokens to generate at most", parseInteger("--max-tokens", 1), 64)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", parseNumberIn("--temperature", { lo: 0 }), 0)
    .option("--top-k <k>", "sample among the k most likely tokens (0 = off)", parseInteger("--top-k", 0), 0)
    .option(
      "--top-p <p>",
      "nucleus sampling threshold in (0, 1] (1 = off)",
      parseNumberIn("--top-p", { lo: 0, hi: 1, loOpen: true }),
      1,
    )
    .option(
      "--repetition-penalty <x>",
      "penalty > 0 for tokens already present (1 = off)",
      parseNumberIn("--repetition-penalty", { lo: 0, loOpen: true }),
      1,
    )
    .option("--seed <n>", "sampling seed", parseInteger("--seed", 0), 0)
    .option("--dtype <name>", "in-memory dtype of the base weights: f32 or bf16", parseChoice("--dtype", DTYPES), "f32")
    .option(
      "--json",
      'print {"ids": [...], "text": "..." or null, "prompt_tokens": n, "stopped_by": "eos" | "max_tokens" | "context"}',
    )
    .addHelpText(
      "after",
      `
Give the prompt as --prompt TEXT or --prompt-ids 1,2,3 (one of them). With --adapter runs/x, --chat uses the
chat template the run was trained with (runs/x/chat_template.jinja) when there is one.

Example:
  loratune generate --model demo --adapter runs/first --chat --prompt "Hello"`,
    );
  requireOptions(cmd, "--model");
  cmd.action((o: GenerateFlags) => {
    const out = generate(o);
    if (o.json) {
      console.log(
        JSON.stringify({
          ids: out.ids,
          text: out.text,
          prompt_tokens: out.promptIds.length,
          stopped_by: out.stoppedBy,
        }),
      );
    } else console.log(out.text ?? out.ids.join(","));
    if (out.stoppedBy === "context") {
      process.stderr.write(
        `loratune: stopped after ${out.ids.length} tokens: the model's context (${out.promptIds.length + out.ids.length} tokens) is full\n`,
      );
    }
  });
}
