/** `loratune export`: GGUF files (and an Ollama Modelfile) for llama.cpp and Ollama. */
import type { Command } from "commander";
import { EXPORT_OPTIONS, type ExportOptions, exportModel } from "../api/export.ts";
import { addOptions } from "./options.ts";

export function registerExport(program: Command): void {
  const cmd = program
    .command("export")
    .description(
      "export a model (merged with an adapter, or not) and/or an adapter as GGUF for llama.cpp and Ollama, with a Modelfile",
    );
  addOptions(cmd, EXPORT_OPTIONS);
  cmd.action((o: ExportOptions) => {
    const r = exportModel(o);
    const what: string[] = [];
    if (r.files.includes("model.gguf")) {
      what.push(
        `model.gguf (${r.outtype}${r.merged > 0 ? `, ${r.merged} adapted modules merged` : ""}, tokenizer ${r.pre})`,
      );
    }
    if (r.adapterModules > 0) what.push(`adapter.gguf (LoRA on ${r.adapterModules} modules)`);
    console.log(`wrote ${r.out}: ${what.join(", ")} and a Modelfile`);
    const kept = new Set(r.kept);
    const rows = r.fallbacks.filter((f) => !kept.has(f.split(" ")[0]!));
    if (rows.length > 0)
      console.log(`  rows not whole ${r.outtype} blocks, written as another type: ${rows.join(", ")}`);
    if (r.kept.length > 0) {
      const held = r.fallbacks.filter((f) => kept.has(f.split(" ")[0]!));
      console.log(`  already quantized in the base, kept as stored (not quantized twice): ${held.join(", ")}`);
    }
    for (const note of r.notes) console.log(`  note: ${note}`);
    const model = r.files.includes("model.gguf") ? `${r.out}/model.gguf` : (r.baseGguf ?? "BASE.gguf");
    const lora = r.adapterModules > 0 ? ` --lora ${r.out}/adapter.gguf` : "";
    console.log(`  llama.cpp: llama-cli -m ${model}${lora}`);
    console.log(`  Ollama:    ollama create NAME -f ${r.out}/Modelfile`);
  });
}
