/** `loratune generate`: sample a continuation with the KV cache, optionally through an (unmerged) adapter. */
import type { Command } from "commander";
import {
  GENERATE_OPTIONS,
  type GenerateOptions,
  type GenerateOutput,
  generate,
  generateStream,
} from "../api/generate.ts";
import { addOptions } from "./options.ts";

export function registerGenerate(program: Command): void {
  const cmd = program
    .command("generate")
    .description("generate text from a prompt (temperature 0 = greedy); stops at EOS")
    .addHelpText(
      "after",
      `
Give the prompt as --prompt TEXT or --prompt-ids 1,2,3 (one of them); the text is printed as it is generated.
With --adapter runs/x, --chat uses the chat template the run was trained with (runs/x/chat_template.jinja) when
there is one.

Example:
  loratune generate --model demo --adapter runs/first --chat --prompt "Hello"`,
    );
  addOptions(cmd, GENERATE_OPTIONS);
  cmd.action(async (o: GenerateOptions & { json?: boolean }) => {
    const out = o.json ? await generate(o) : await printAsGenerated(o);
    if (o.json) {
      console.log(
        JSON.stringify({
          ids: out.ids,
          text: out.text,
          prompt_tokens: out.promptIds.length,
          stopped_by: out.stoppedBy,
        }),
      );
    }
    if (out.stoppedBy === "context") {
      process.stderr.write(
        `loratune: stopped after ${out.ids.length} tokens: the model's context (${out.promptIds.length + out.ids.length} tokens) is full\n`,
      );
    }
  });
}

/** Prints the text as it is generated (the ids at the end, for a model without a tokenizer); returns the output. */
async function printAsGenerated(o: GenerateOptions): Promise<GenerateOutput> {
  const stream = generateStream(o);
  let shown = "";
  for (;;) {
    const next = await stream.next();
    if (next.done) {
      const out = next.value;
      // What the stream held back (a character the last token left incomplete) completes the text.
      const rest = out.text === null ? out.ids.join(",") : out.text.slice(shown.length);
      process.stdout.write(`${rest}\n`);
      return out;
    }
    process.stdout.write(next.value.text);
    shown += next.value.text;
  }
}
