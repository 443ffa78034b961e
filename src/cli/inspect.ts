/**
 * `loratune inspect [path] [--json]`: describe a model, adapter or run directory; `inspect --system`: which
 * kernel backend, ISA and thread count are active.
 */
import { cpus, totalmem } from "node:os";
import type { Command } from "commander";
import type { OptionDef } from "../api/options.ts";
import { LoratuneError } from "../errors.ts";
import {
  type AdapterReport,
  type InspectReport,
  inspectPath,
  type ModelReport,
  type RunReport,
} from "../inspect/inspect.ts";
import type { GgufAdapterReport, GgufModelReport } from "../inspect/inspect-gguf.ts";
import { getKernels, kernelNotice } from "../kernels/index.ts";
import { nativeAddonPath } from "../kernels/native/index.ts";
import { snakeCaseKeys } from "./json-keys.ts";
import { addOptions } from "./options.ts";

/** `loratune inspect`'s options (the path is an argument). */
export const INSPECT_OPTIONS: readonly OptionDef[] = [
  {
    key: "system",
    kind: "bool",
    help: "print the kernel backend, instruction set, thread count and machine (the default without a path)",
  },
  { key: "json", kind: "bool", help: "print one JSON object (snake_case keys)" },
];

export function systemReport(): Record<string, string | number> {
  const k = getKernels();
  const notice = kernelNotice();
  // The native addon's file: prebuilt in the package, or built from source (build/Release).
  const addon = k.name === "native" ? nativeAddonPath() : undefined;
  return {
    backend: k.name,
    isa: k.isa,
    threads: k.threads,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    ...(addon ? { addon } : {}),
    ...(notice ? { notice } : {}),
  };
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command("inspect")
    .description("describe a model, adapter or training run directory, or a GGUF file; --system: the compute backend")
    .argument("[path]", "model directory (or 'demo'), PEFT adapter directory, run directory, or .gguf file");
  addOptions(cmd, INSPECT_OPTIONS);
  cmd
    .addHelpText(
      "after",
      `
A model directory: family, parameters, dtype, vocabulary, layers and sizes, tokenizer, chat template.
An adapter directory: r, alpha, scale, target modules, rsLoRA, base model, trainable parameters.
A run directory: its adapter (or model), status, steps done of total, best validation loss, and its settings.
A GGUF model: architecture and family, parameters, tensors per type, file size, tokenizer, chat template,
context length, and whether loratune can load it. A GGUF LoRA adapter: base architecture, alpha, ranks, targets.

Examples:
  loratune inspect runs/first
  loratune inspect demo --json
  loratune inspect model.gguf
  loratune inspect --system`,
    )
    .action((path: string | undefined, opts: { system?: boolean; json?: boolean }) => {
      if (opts.system && path !== undefined) {
        throw new LoratuneError("ERR_USAGE", "inspect: give a path or --system, not both");
      }
      const system = path === undefined; // `loratune inspect` alone: the system, as before paths were taken
      const report = system ? systemReport() : inspectPath(path);
      if (opts.json) {
        console.log(JSON.stringify(system ? report : toJson(report as InspectReport)));
        return;
      }
      if (system) {
        for (const [key, value] of Object.entries(report)) console.log(`${key.padEnd(10)} ${value}`);
        return;
      }
      console.log(formatInspect(report as InspectReport));
    });
}

/** The JSON form: the report as is, with the run's settings (config.yaml keys) in snake_case too. */
function toJson(r: InspectReport): unknown {
  return r.kind === "run" ? { ...r, settings: snakeCaseKeys(r.settings) } : r;
}

const line = (key: string, value: string) => `${key.padEnd(15)}${value}`;
const count = (n: number) => n.toLocaleString("en-US");

/** "1.61M", "135.5M", "7.24B". */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

const num = (v: number) => String(Number(v.toPrecision(6)));

export function formatInspect(r: InspectReport): string {
  if (r.kind === "model") return modelLines(r).join("\n");
  if (r.kind === "adapter") return adapterLines(r).join("\n");
  if (r.kind === "gguf-model") return ggufModelLines(r).join("\n");
  if (r.kind === "gguf-adapter") return ggufAdapterLines(r).join("\n");
  return runLines(r).join("\n");
}

function modelLines(m: ModelReport, heading = "model"): string[] {
  const family = [m.model_type, ...m.architectures].join(", ");
  return [
    line(heading, `${m.path} (${family})${m.written_by_loratune === "merged-model" ? ", merged by loratune" : ""}`),
    line("parameters", `${formatParams(m.parameters)} (${count(m.parameters)}), ${m.dtype.join(" + ")}`),
    line("vocabulary", `${count(m.vocab_size)} tokens`),
    line("layers", `${m.layers}, hidden size ${m.hidden_size}, intermediate size ${m.intermediate_size}`),
    line("attention", `${m.attention_heads} heads, ${m.key_value_heads} key/value heads, head dim ${m.head_dim}`),
    line("context", `${count(m.max_positions)} positions`),
    line("embeddings", m.tied_embeddings ? "tied (the output head is the embedding table)" : "untied"),
    line("tokenizer", m.tokenizer ? "tokenizer.json" : "none (no tokenizer.json: pre-tokenized data only)"),
    line("chat template", m.chat_template ? "yes" : "none"),
  ];
}

function adapterLines(a: AdapterReport, heading = "adapter"): string[] {
  const targets = typeof a.target_modules === "string" ? a.target_modules : a.target_modules.join(", ");
  const lines = [
    line(heading, `${a.path} (PEFT ${a.use_dora ? "DoRA" : "LoRA"})`),
    line("rank", `r ${a.r}, alpha ${num(a.lora_alpha)}, scale ${num(a.scale)}${a.use_rslora ? " (rsLoRA)" : ""}`),
    line("targets", targets + (a.layers_to_transform ? ` in layers ${a.layers_to_transform.join(", ")}` : "")),
    line("dropout", num(a.lora_dropout)),
    line("base model", a.base_model ?? "not recorded"),
    line(
      "trainable",
      `${count(a.trainable_params)} parameters in ${a.adapted_modules} modules (${a.weights_dtype.join(", ")})`,
    ),
  ];
  if (Object.keys(a.rank_pattern).length > 0) lines.push(line("rank pattern", JSON.stringify(a.rank_pattern)));
  if (Object.keys(a.alpha_pattern).length > 0) lines.push(line("alpha pattern", JSON.stringify(a.alpha_pattern)));
  if (a.layers_pattern) lines.push(line("layers pattern", a.layers_pattern.join(", ")));
  if (a.modules_to_save) lines.push(line("saved whole", `${a.modules_to_save.join(", ")} (modules_to_save)`));
  if (a.trainable_token_indices) lines.push(line("token rows", tokenRowsText(a.trainable_token_indices)));
  lines.push(line("chat template", a.chat_template ? "chat_template.jinja" : "none"));
  return lines;
}

/** "embed_tokens 1024..1025, lm_head 1024..1025 (trainable_token_indices)": each module's ids, runs joined. */
function tokenRowsText(indices: Record<string, number[]>): string {
  const ids = (list: number[]) => {
    const runs: string[] = [];
    for (let i = 0; i < list.length; ) {
      let j = i;
      while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
      runs.push(j > i ? `${list[i]}..${list[j]}` : `${list[i]}`);
      i = j + 1;
    }
    return runs.join(", ");
  };
  const parts = Object.entries(indices).map(([module, list]) => `${module} ${ids(list)}`);
  return `${parts.join("; ")} (trainable_token_indices)`;
}

/** "q4_k 112, q6_k 16, f32 45". */
const histogram = (types: Record<string, number>) =>
  Object.entries(types)
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");

/** "637.8 MiB". */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

const orUnknown = (v: number | null) => (v === null ? "?" : String(v));

function ggufModelLines(m: GgufModelReport): string[] {
  const family = m.model_type !== null ? `read as ${m.model_type}` : "no loratune family";
  const tokenizer =
    m.tokenizer === null
      ? "none (no tokenizer.ggml.model: pre-tokenized data only)"
      : `${m.tokenizer === "gpt2" ? "byte-level BPE" : m.tokenizer === "llama" ? "SentencePiece-style BPE" : m.tokenizer} (tokenizer.ggml.model ${m.tokenizer}${m.tokenizer_pre !== null ? `, pre ${m.tokenizer_pre}` : ""})`;
  return [
    line("gguf model", `${m.path} (${m.architecture ?? "no general.architecture"}, ${family})`),
    ...(m.name !== null ? [line("name", m.name)] : []),
    line("parameters", `${formatParams(m.parameters)} (${count(m.parameters)})`),
    line("tensor types", histogram(m.tensor_types)),
    line("file size", `${formatBytes(m.file_bytes)} (${count(m.file_bytes)} bytes)`),
    line("vocabulary", m.vocab_size === null ? "?" : `${count(m.vocab_size)} tokens`),
    line(
      "layers",
      `${orUnknown(m.layers)}, hidden size ${orUnknown(m.hidden_size)}, intermediate size ${orUnknown(m.intermediate_size)}`,
    ),
    line(
      "attention",
      `${orUnknown(m.attention_heads)} heads, ${orUnknown(m.key_value_heads)} key/value heads, head dim ${orUnknown(m.head_dim)}`,
    ),
    line("context", m.max_positions === null ? "?" : `${count(m.max_positions)} positions`),
    line(
      "embeddings",
      m.tied_embeddings ? "tied (no output.weight: the output head is the embedding table)" : "untied",
    ),
    line("tokenizer", tokenizer),
    line("chat template", m.chat_template ? "yes" : "none"),
    line("loratune", m.loadable ? "loads it as a base model (--model)" : `cannot load it: ${m.problem}`),
  ];
}

function ggufAdapterLines(a: GgufAdapterReport): string[] {
  const ranks = a.ranks.length === 0 ? "?" : a.ranks.join(", ");
  const lines = [
    line(
      "gguf adapter",
      `${a.path} (LoRA for ${a.architecture ?? "no general.architecture"}${a.model_type !== null ? `, read as ${a.model_type}` : ""})`,
    ),
    line("rank", `r ${ranks}, alpha ${a.alpha === null ? "?" : num(a.alpha)} (llama.cpp scales by alpha / r)`),
    line("targets", a.target_modules.join(", ")),
    line(
      "trainable",
      `${count(a.trainable_params)} parameters in ${a.adapted_modules} modules (${histogram(a.tensor_types)})`,
    ),
    line("file size", `${formatBytes(a.file_bytes)} (${count(a.file_bytes)} bytes)`),
  ];
  if (a.peft !== null) {
    const targets =
      typeof a.peft.target_modules === "string" ? a.peft.target_modules : a.peft.target_modules.join(", ");
    lines.push(
      line(
        "peft config",
        `r ${a.peft.r}, lora_alpha ${num(a.peft.lora_alpha)}${a.peft.use_rslora ? ", rsLoRA" : ""}, target_modules ${targets}`,
      ),
    );
  }
  lines.push(line("base model", a.base_model ?? "not recorded"));
  return lines;
}

const STATUS_TEXT: Record<RunReport["status"], string> = {
  running: "running (or stopped without saying so: killed, or the machine went down)",
  completed: "completed",
  early_stopping: "stopped early (validation loss stopped improving)",
  interrupted: "interrupted (resume with loratune train --resume)",
  failed: "failed",
  unknown: `unknown (no loratune.json: written by an older loratune)`,
};

function runLines(r: RunReport): string[] {
  const steps =
    r.steps_done === null
      ? "none recorded"
      : r.total_steps !== null
        ? `${r.steps_done} of ${r.total_steps}`
        : String(r.steps_done);
  const lines = [
    line("run", r.path),
    line("status", STATUS_TEXT[r.status] + (r.error ? `: ${r.error}` : "")),
    line("steps", steps),
  ];
  if (r.last_loss !== null) lines.push(line("last loss", r.last_loss.toFixed(4)));
  lines.push(
    line(
      "best val loss",
      r.best_val_loss === null
        ? "none (no validation)"
        : `${r.best_val_loss.toFixed(4)}${r.best_val_step !== null ? ` at step ${r.best_val_step}` : ""}`,
    ),
  );
  if (r.updated) lines.push(line("updated", `${r.updated} (loratune ${r.loratune_version})`));
  if (r.checkpoints.length > 0) lines.push(line("checkpoints", r.checkpoints.join(", ")));
  if (r.adapter) lines.push(...adapterLines(r.adapter, "adapter"));
  if (r.model) lines.push(...modelLines(r.model, "full model"));
  if (!r.adapter && !r.model) lines.push(line("adapter", "none written yet"));
  if (r.settings) {
    lines.push("settings (config.yaml)");
    for (const [k, v] of Object.entries(r.settings)) {
      lines.push(`  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
    }
  }
  return lines;
}
