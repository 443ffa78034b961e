/**
 * A loratune training run as an axolotl config (YAML), written from axolotl's documented config schema (its
 * pydantic models: LoraConfig, HyperparametersConfig, SFTDataset, AxolotlInputConfig). Paths are relative to the
 * job folder, where the README launches it. The mapping, loratune → axolotl:
 *   model → base_model; targets → lora_target_linear (all-linear) or
 *   lora_target_modules; rank, alpha, dropout → lora_r, lora_alpha, lora_dropout; rslora, dora, init, layers →
 *   peft_use_rslora, peft_use_dora, peft_init_lora_weights, peft_layers_to_transform; lr, schedule, warmup →
 *   learning_rate, lr_scheduler (constant with warmup: constant_with_warmup), warmup_steps; batch, accumulation,
 *   seq length → micro_batch_size, gradient_accumulation_steps, sequence_len; steps/epochs → max_steps/num_epochs;
 *   pack → sample_packing; train-on-prompt → train_on_inputs (and roles_to_train for chat rows); the chat template
 *   → chat_template jinja + chat_template_jinja; seed, eval-every, save-every → seed, eval_steps, save_steps; AdamW
 *   → optimizer adamw_torch with loratune's betas and eps; max-grad-norm, weight-decay as they are.
 */
import { stringify as toYaml } from "yaml";
import { ADAMW_DEFAULTS } from "../train/adamw.ts";
import type { JobDataFile } from "./job-data.ts";
import type { JobSettings } from "./job-settings.ts";

/** The job's chat template file, relative to the job folder. */
export const JOB_TEMPLATE = "chat_template.jinja";
/** The axolotl config file of a job. */
export const AXOLOTL_CONFIG_FILE = "axolotl.yaml";

/** HF scheduler names: transformers' "constant" ignores warmup, so a warmed-up constant is constant_with_warmup. */
export function hfScheduler(s: JobSettings): string {
  return s.schedule === "constant" && s.warmupSteps > 0 ? "constant_with_warmup" : s.schedule;
}

/** One axolotl dataset entry for a converted file. */
function datasetEntry(f: JobDataFile, s: JobSettings): Record<string, unknown> {
  const base = { path: f.path, ds_type: "json", split: "train" };
  switch (f.written) {
    case "text":
      return { ...base, type: "completion" };
    case "alpaca":
      return { ...base, type: "alpaca" };
    case "prompt_completion":
      // The prompt as written, then the completion: axolotl's user-defined instruction prompt with no template text.
      return {
        ...base,
        type: {
          field_instruction: "prompt",
          field_output: "completion",
          format: "{instruction}",
          no_input_format: "{instruction}",
        },
      };
    case "messages":
      return {
        ...base,
        type: "chat_template",
        field_messages: "messages",
        roles_to_train: s.trainOnPrompt ? ["system", "user", "assistant", "tool"] : ["assistant"],
        train_on_eos: "turn",
      };
    default:
      return base; // pre-tokenized: input_ids (and labels) used as they are
  }
}

/** The axolotl config as an object (key order as written). */
export function axolotlConfig(s: JobSettings, train: JobDataFile[], val: JobDataFile[]): Record<string, unknown> {
  const c: Record<string, unknown> = { base_model: s.model };
  Object.assign(c, {
    adapter: "lora",
    lora_r: s.rank,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
  });
  if (s.targets === "all-linear") c.lora_target_linear = true;
  else c.lora_target_modules = Array.isArray(s.targets) ? s.targets : s.targets.regex;
  if (s.rslora) c.peft_use_rslora = true;
  if (s.dora) c.peft_use_dora = true;
  if (s.init !== "kaiming") c.peft_init_lora_weights = s.init;
  if (s.layers !== null) c.peft_layers_to_transform = s.layers;
  if (s.loraplusLrRatio > 0) c.loraplus_lr_ratio = s.loraplusLrRatio;
  Object.assign(c, {
    datasets: train.map((f) => datasetEntry(f, s)),
    ...(val.length > 0 ? { test_datasets: val.map((f) => datasetEntry(f, s)) } : {}),
    ...(val.length === 0 && s.valSplit > 0 ? { val_set_size: s.valSplit } : {}),
    shuffle_merged_datasets: s.shuffle,
    train_on_inputs: s.trainOnPrompt,
    sequence_len: s.seqLen,
    sample_packing: s.pack,
    micro_batch_size: s.batchSize,
    gradient_accumulation_steps: s.gradAccum,
    ...(s.steps > 0 ? { max_steps: s.steps } : { num_epochs: s.epochs }),
    optimizer: "adamw_torch",
    learning_rate: s.lr,
    lr_scheduler: hfScheduler(s),
    warmup_steps: s.warmupSteps,
    adam_beta1: ADAMW_DEFAULTS.beta1,
    adam_beta2: ADAMW_DEFAULTS.beta2,
    adam_epsilon: ADAMW_DEFAULTS.eps,
    weight_decay: s.weightDecay,
    max_grad_norm: s.maxGradNorm,
    seed: s.seed,
    gradient_checkpointing: s.gradCheckpoint,
    bf16: s.dtype === "bf16",
    logging_steps: 1,
  });
  if (s.evalEvery > 0 && (val.length > 0 || s.valSplit > 0)) c.eval_steps = s.evalEvery;
  if (s.saveEvery > 0) c.save_steps = s.saveEvery;
  if (s.earlyStopping > 0) c.early_stopping_patience = s.earlyStopping;
  if (s.chatTemplate !== null) {
    c.chat_template = "jinja";
    c.chat_template_jinja = JOB_TEMPLATE;
  }
  c.output_dir = "./out";
  return c;
}

/**
 * The config as YAML that PyYAML (YAML 1.1, which axolotl reads with) takes as written: a number in exponent form
 * gets a decimal point (1e-8 would be the string "1e-8" there; 1.0e-8 is a float in both YAML versions).
 */
export function axolotlYaml(config: Record<string, unknown>, header: string): string {
  const text = toYaml(config).replace(/^(\s*(?:- )?[\w-]+: )(-?\d+)e([-+]?\d+)$/gm, "$1$2.0e$3");
  return `# ${header}\n${text}`;
}
