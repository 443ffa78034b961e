/**
 * A loratune training run as a TRL job: a short Python script (SFTTrainer with an SFTConfig, PEFT's LoraConfig)
 * and accelerate configs for several GPUs, written from TRL's SFTConfig, transformers' TrainingArguments and PEFT's
 * LoraConfig documentation. The mapping, loratune → TRL/PEFT:
 *   model → SFTTrainer(model=...) (revision → model_init_kwargs.revision); targets → target_modules ("all-linear",
 *   names, or a regex string); rank, alpha, dropout, rslora, dora, init, layers → r, lora_alpha, lora_dropout,
 *   use_rslora, use_dora, init_lora_weights, layers_to_transform; lr, schedule, warmup → learning_rate,
 *   lr_scheduler_type, warmup_steps; batch, accumulation, seq length → per_device_train_batch_size,
 *   gradient_accumulation_steps, max_length; pack → packing; train-on-prompt → completion_only_loss and
 *   assistant_only_loss (off when training on prompts); the chat template → chat_template_path; seed, eval-every,
 *   save-every → seed, eval_strategy + eval_steps, save_steps; AdamW → optim adamw_torch with loratune's betas/eps.
 */

import { LoratuneError } from "../errors.ts";
import { ADAMW_DEFAULTS } from "../train/adamw.ts";
import { hfScheduler, JOB_TEMPLATE } from "./job-axolotl.ts";
import type { JobDataFile } from "./job-data.ts";
import type { JobSettings } from "./job-settings.ts";

export const TRL_SCRIPT = "train.py";

/** PEFT LoraConfig keyword arguments. */
export function trlLoraConfig(s: JobSettings): Record<string, unknown> {
  return {
    r: s.rank,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: s.targets === "all-linear" ? "all-linear" : Array.isArray(s.targets) ? s.targets : s.targets.regex,
    use_rslora: s.rslora,
    use_dora: s.dora,
    init_lora_weights: s.init === "kaiming" ? true : s.init,
    ...(s.layers !== null ? { layers_to_transform: s.layers } : {}),
    bias: "none",
    task_type: "CAUSAL_LM",
  };
}

/** The one row format TRL trains on (its datasets are one format); an error for a mix. */
export function trlFormat(files: JobDataFile[]): JobDataFile["written"] {
  const formats = [...new Set(files.map((f) => f.written))];
  if (formats.length !== 1) {
    throw new LoratuneError(
      "ERR_USAGE",
      `export-job --engine trl: the data files have different row formats (${formats.join(", ")}); TRL trains on one ` +
        "format at a time: export with --engine axolotl, or convert the files to one format",
    );
  }
  return formats[0]!;
}

/** SFTConfig keyword arguments (SFTConfig extends transformers' TrainingArguments). */
export function trlSftConfig(s: JobSettings, train: JobDataFile[], hasEval: boolean): Record<string, unknown> {
  const format = trlFormat(train);
  const c: Record<string, unknown> = {
    output_dir: "out",
    per_device_train_batch_size: s.batchSize,
    gradient_accumulation_steps: s.gradAccum,
    ...(s.steps > 0 ? { max_steps: s.steps } : { num_train_epochs: s.epochs }),
    learning_rate: s.lr,
    lr_scheduler_type: hfScheduler(s),
    warmup_steps: s.warmupSteps,
    optim: "adamw_torch",
    adam_beta1: ADAMW_DEFAULTS.beta1,
    adam_beta2: ADAMW_DEFAULTS.beta2,
    adam_epsilon: ADAMW_DEFAULTS.eps,
    weight_decay: s.weightDecay,
    max_grad_norm: s.maxGradNorm,
    seed: s.seed,
    max_length: s.seqLen,
    packing: s.pack,
    shuffle_dataset: s.shuffle,
    gradient_checkpointing: s.gradCheckpoint,
    bf16: s.dtype === "bf16",
    logging_steps: 1,
    report_to: "none",
  };
  if (format === "prompt_completion") c.completion_only_loss = !s.trainOnPrompt;
  if (format === "messages") c.assistant_only_loss = !s.trainOnPrompt;
  if (hasEval && s.evalEvery > 0) Object.assign(c, { eval_strategy: "steps", eval_steps: s.evalEvery });
  if (s.saveEvery > 0) Object.assign(c, { save_strategy: "steps", save_steps: s.saveEvery });
  if (s.chatTemplate !== null) c.chat_template_path = JOB_TEMPLATE;
  if (s.revision !== null) c.model_init_kwargs = { revision: s.revision };
  return c;
}

/** A JavaScript value as a Python literal (JSON strings are valid Python strings). */
export function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(", ")}]`;
  const entries = Object.entries(v as Record<string, unknown>).map(
    ([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`,
  );
  return `{${entries.join(", ")}}`;
}

const kwargs = (o: Record<string, unknown>) =>
  Object.entries(o)
    .map(([k, v]) => `    ${k}=${pythonLiteral(v)},`)
    .join("\n");

/** The training script: loads the converted JSONL, trains with SFTTrainer and saves the PEFT adapter to out/. */
export function trlScript(s: JobSettings, train: JobDataFile[], val: JobDataFile[]): string {
  const files = (fs: JobDataFile[]) => pythonLiteral(fs.map((f) => f.path));
  const evalLoad =
    val.length > 0
      ? `eval_dataset = load_dataset("json", data_files=${files(val)}, split="train")`
      : s.valSplit > 0
        ? `split = train_dataset.train_test_split(test_size=${s.valSplit}, seed=${s.seed})\ntrain_dataset, eval_dataset = split["train"], split["test"]`
        : "eval_dataset = None";
  return `"""Written by loratune export-job from ${s.source}: LoRA supervised fine-tuning with TRL's SFTTrainer.

Run from this folder: python ${TRL_SCRIPT} (one GPU) or accelerate launch ... ${TRL_SCRIPT} (see README.md).
The PEFT adapter is saved to out/.
"""

from datasets import load_dataset
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

peft_config = LoraConfig(
${kwargs(trlLoraConfig(s))}
)

args = SFTConfig(
${kwargs(trlSftConfig(s, train, val.length > 0 || s.valSplit > 0))}
)

train_dataset = load_dataset("json", data_files=${files(train)}, split="train")
${evalLoad}

trainer = SFTTrainer(
    model=${pythonLiteral(s.model)},
    args=args,
    train_dataset=train_dataset,
    eval_dataset=eval_dataset,
    peft_config=peft_config,
)
trainer.train()
trainer.save_model(args.output_dir)
`;
}
