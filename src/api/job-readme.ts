/**
 * The README of an exported job: what it holds, how to launch it on one GPU and on several, how the adapter comes
 * back to loratune, and, for this run, every setting whose meaning the engine does not keep exactly.
 */
import { isAbsolute } from "node:path";
import type { JobDataFile, JobEngine } from "./job-data.ts";
import { launchCommands } from "./job-launch.ts";
import type { JobSettings } from "./job-settings.ts";

/** The settings of `s` that `engine` does not keep as loratune computes them, one sentence each. */
export function notKept(s: JobSettings, engine: JobEngine, train: JobDataFile[]): string[] {
  const notes = [
    "Random draws differ: the LoRA A initialisation, the shuffling order and dropout masks come from the engine's " +
      "generator (same distributions, other numbers), and GPU kernels round differently, so the adapter is not " +
      "bit-identical to loratune's.",
    "The loss of a step: loratune averages over all label tokens of the step's micro-batches; the engine's " +
      "averaging across gradient-accumulation micro-batches and GPUs follows its transformers version.",
    "Several GPUs multiply the global batch: loratune's is batch × accumulation = " +
      `${s.batchSize * s.gradAccum} sequences; with N GPUs divide gradient_accumulation_steps by N to keep it.`,
  ];
  if (s.pack) {
    notes.push(
      engine === "axolotl"
        ? "Packing: axolotl's sample_packing keeps packed examples from attending to each other (as loratune does) only with an attention that takes per-example boundaries (flash_attention: true); set it on a GPU that has it."
        : "Packing: TRL's packing (bfd) keeps packed examples apart through padding-free batches, which need FlashAttention (attn_implementation flash_attention_2 in model_init_kwargs).",
    );
  }
  if (!s.trainOnPrompt && engine === "trl" && train.some((f) => f.written === "messages")) {
    notes.push(
      "Assistant-only loss: TRL's assistant_only_loss needs a chat template that marks assistant turns with " +
        "{% generation %} ... {% endgeneration %}; loratune finds the assistant tokens by rendering the conversation " +
        "turn by turn, with any template. Add the markers to chat_template.jinja if TRL refuses the template.",
    );
  }
  if (train.some((f) => f.written === "tokens") && engine === "trl") {
    notes.push(
      "Pre-tokenized rows: TRL trains on every token of input_ids; loratune's labels (-100 = no loss) are not used.",
    );
  }
  if (s.revision !== null && engine === "axolotl") {
    notes.push(
      `--revision ${s.revision}: axolotl loads base_model at the hub's main; download that revision and set base_model to its folder to pin it.`,
    );
  }
  if (!Number.isInteger(s.alpha)) {
    notes.push(
      `--alpha ${s.alpha}: ${engine === "axolotl" ? "axolotl's lora_alpha" : "PEFT's lora_alpha"} is documented as an integer; check that the engine keeps ${s.alpha}, else the scale alpha/r changes.`,
    );
  }
  if (s.valSplit > 0 && s.val === null) {
    notes.push(`--val-split ${s.valSplit}: the engine draws its own ${s.valSplit} share of the rows, not loratune's.`);
  }
  if (s.quantize !== null) {
    notes.push(
      `--quantize ${s.quantize}: not kept (ggml block formats); the job trains on the unquantized base (QLoRA's nf4 would be a different quantization).`,
    );
  }
  if (s.loraplusLrRatio > 0 && engine === "trl")
    notes.push(
      `--loraplus-lr-ratio ${s.loraplusLrRatio}: not set in the TRL script (it needs a custom optimizer); axolotl keeps it.`,
    );
  if (s.earlyStopping > 0 && engine === "trl")
    notes.push(
      `--early-stopping ${s.earlyStopping}: not set in the TRL script (transformers' EarlyStoppingCallback would do it); axolotl keeps it.`,
    );
  if (s.metric !== null)
    notes.push(
      "--metric exact-match: not computed by the engine; evaluate the returned adapter with loratune eval --metric exact-match.",
    );
  if (s.initAdapter !== null)
    notes.push(`--init-adapter ${s.initAdapter}: not kept; the job starts from a fresh adapter.`);
  if (s.evalEvery > 0 && s.val === null && s.valSplit === 0)
    notes.push("--eval-every: no validation data, so no evaluation.");
  if (isAbsolute(s.model)) {
    notes.push(
      `The base model is the local directory ${s.model}: copy it to the GPU machine at that path, or replace it with its hub id.`,
    );
  }
  return notes;
}

export function jobReadme(
  s: JobSettings,
  engine: JobEngine,
  files: string[],
  train: JobDataFile[],
  val: JobDataFile[],
): string {
  const name = engine === "axolotl" ? "axolotl" : "TRL";
  const data = [...train, ...val]
    .map(
      (f) =>
        `- \`${f.path}\`: ${f.rows} rows from ${f.source} (${f.shape}${f.written !== f.shape ? `, written as ${f.written}` : ""})`,
    )
    .join("\n");
  const commands = launchCommands(engine)
    .map(([what, cmd]) => `${what}:\n\n    ${cmd}\n`)
    .join("\n");
  return `# ${name} job exported by loratune

From ${s.source}: LoRA r=${s.rank}, alpha=${s.alpha}${s.rslora ? " (rsLoRA)" : ""} on ${s.model}${s.revision ? ` at ${s.revision}` : ""}.

## Files

${files.map((f) => `- \`${f}\``).join("\n")}

Data, converted to the rows ${name} reads:

${data}

## Launch

Run the commands from this folder.

${commands}
## Bring the adapter back

The job writes an ordinary PEFT adapter to \`out/\`. loratune reads it as it reads its own:

    loratune eval --model BASE --adapter out --data VALIDATION.jsonl
    loratune merge --model BASE --adapter out --out merged
    loratune export --model BASE --adapter out --out gguf

## What is not kept

${notKept(s, engine, train)
  .map((n) => `- ${n}`)
  .join("\n")}
`;
}
