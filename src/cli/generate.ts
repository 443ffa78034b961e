/** `loratune generate`: sample a continuation with the KV cache, optionally through an (unmerged) adapter. */
import type { Command } from "commander";
import { GENERATE_OPTIONS, type GenerateOptions, generate } from "../api/generate.ts";
import { addOptions } from "./options.ts";

export function registerGenerate(program: Command): void {
  const cmd = program
    .command("generate")
    .description("generate text from a prompt (temperature 0 = greedy); stops at EOS")
    .addHelpText(
      "after",
      `
Give the prompt as --prompt TEXT or --prompt-ids 1,2,3 (one of them). With --adapter runs/x, --chat uses the
chat template the run was trained with (runs/x/chat_template.jinja) when there is one.

Example:
  loratune generate --model demo --adapter runs/first --chat --prompt "Hello"`,
    );
  addOptions(cmd, GENERATE_OPTIONS);
  cmd.action(async (o: GenerateOptions & { json?: boolean }) => {
    const out = await generate(o);
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
