/**
 * `loratune inspect file.gguf` (src/inspect/inspect-gguf.ts): a GGUF model described as a model directory is
 * (family, parameters, tensors per type, file size, tokenizer, chat template, context length, loadable or why not),
 * a GGUF LoRA adapter by its base architecture, alpha, ranks and targets, both as text and --json.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatInspect } from "../../src/cli/inspect.ts";
import { str } from "../../src/gguf/metadata.ts";
import { readGgufHeader, readGgufTensorBytes } from "../../src/gguf/reader.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import { inspectPath } from "../../src/inspect/inspect.ts";
import type { GgufAdapterReport, GgufModelReport } from "../../src/inspect/inspect-gguf.ts";
import { ggufAdapterSeeds } from "../fuzz/corpus.ts";
import { ggufModelSeeds } from "../fuzz/gguf-corpus.ts";
import { cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "lt-inspect-gguf-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** Seed `name` of the fuzz corpus written as a .gguf file. */
function seedFile(name: string): string {
  const seed = [...ggufModelSeeds(), ...ggufAdapterSeeds()].find((s) => s.name === name)!;
  const path = join(work, `${name}.gguf`);
  writeFileSync(path, seed.files[seed.main!]!);
  return path;
}

test("a mixed-type GGUF model: family, tensor types, shape, tokenizer, loadable; text and --json agree", () => {
  const path = seedFile("gguf-llama-spm-q4k");
  const r = inspectPath(path) as GgufModelReport;
  assert.equal(r.kind, "gguf-model");
  assert.equal(r.architecture, "llama");
  assert.equal(r.model_type, "llama");
  // ffn_down rows are 256 values (Q4_K); the 32-value rows fall back to Q8_0; norms are F32.
  assert.deepEqual(r.tensor_types, { q8_0: 13, f32: 5, q4_k: 2 });
  assert.equal(r.file_type, 14);
  assert.equal(r.vocab_size, 512);
  assert.deepEqual(
    [r.layers, r.hidden_size, r.intermediate_size, r.attention_heads, r.key_value_heads, r.head_dim, r.max_positions],
    [2, 32, 256, 4, 2, 8, 128],
  );
  // embedding 512×32, 2 layers of (q 32×32, k/v 16×32, o 32×32, gate/up/down 256×32, two norms), final norm
  assert.equal(r.parameters, 512 * 32 + 2 * (32 * 32 * 2 + 16 * 32 * 2 + 256 * 32 * 3 + 64) + 32);
  assert.equal(r.tied_embeddings, true);
  assert.deepEqual([r.tokenizer, r.tokenizer_pre, r.chat_template], ["llama", "default", true]);
  assert.deepEqual([r.loadable, r.problem], [true, null]);
  const text = formatInspect(r);
  assert.match(text, /^gguf model +.*gguf-llama-spm-q4k\.gguf \(llama, read as llama\)$/m);
  assert.match(text, /^tensor types +q8_0 13, f32 5, q4_k 2$/m);
  assert.match(text, /^file size +81\.0 KiB \(82,912 bytes\)$/m);
  assert.match(text, /^tokenizer +SentencePiece-style BPE \(tokenizer\.ggml\.model llama, pre default\)$/m);
  assert.match(text, /^context +128 positions$/m);
  assert.match(text, /^loratune +loads it as a base model/m);

  const json = JSON.parse(cliOk("inspect", path, "--json").stdout);
  assert.deepEqual(json, JSON.parse(JSON.stringify(r)));
  assert.match(cliOk("inspect", path).stdout, /^tensor types +q8_0 13, f32 5, q4_k 2$/m);
});

test("an untied byte-level GGUF model with rope_freqs; a model loratune cannot load says why", () => {
  const r = inspectPath(seedFile("gguf-llama3-bpe-q6k")) as GgufModelReport;
  assert.deepEqual(r.tensor_types, { q8_0: 8, f32: 4, q6_k: 1 });
  assert.equal(r.tied_embeddings, false);
  assert.deepEqual([r.tokenizer, r.tokenizer_pre], ["gpt2", "gpt-2"]);
  assert.equal(
    r.parameters,
    512 * 32 * 2 + (32 * 32 * 2 + 16 * 32 * 2 + 256 * 32 * 3 + 64) + 32,
    "rope_freqs not counted",
  );

  // The same file under an architecture loratune has no family for: described, with the reason.
  const src = seedFile("gguf-qwen2-bpe-f16");
  const file = readGgufHeader(src);
  const meta = new Map(file.metadata);
  meta.set("general.architecture", str("falcon"));
  meta.delete("tokenizer.chat_template");
  const other = join(work, "falcon.gguf");
  const tensors = file.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.type.id,
    data: () => readGgufTensorBytes(file, t),
  }));
  writeGguf(other, meta, tensors);
  const p = inspectPath(other) as GgufModelReport;
  assert.deepEqual([p.architecture, p.model_type, p.loadable, p.chat_template], ["falcon", null, false, false]);
  assert.match(p.problem!, /general\.architecture "falcon" is not supported/);
  assert.equal(p.layers, null, "falcon.* keys are absent");
  const text = formatInspect(p);
  assert.match(text, /^gguf model +.*\(falcon, no loratune family\)$/m);
  assert.match(text, /^layers +\?, hidden size \?, intermediate size \?$/m);
  assert.match(text, /^loratune +cannot load it: general\.architecture "falcon" is not supported/m);
});

test("a GGUF LoRA adapter: base architecture, alpha, ranks, targets, and the PEFT config it carries", () => {
  const path = seedFile("gguf-patterns");
  const a = inspectPath(path) as GgufAdapterReport;
  assert.equal(a.kind, "gguf-adapter");
  assert.deepEqual([a.architecture, a.model_type], ["llama", "llama"]);
  assert.deepEqual(a.ranks, [2, 4]);
  assert.deepEqual(a.target_modules, ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
  assert.equal(a.adapted_modules, 14);
  assert.deepEqual(a.peft, { r: 4, lora_alpha: 16, use_rslora: true, target_modules: "all-linear" });
  assert.equal(a.base_model, "fuzz-model");
  const text = formatInspect(a);
  assert.match(text, /^rank +r 2, 4, alpha 8 \(llama\.cpp scales by alpha \/ r\)$/m);
  assert.match(text, /^targets +down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj$/m);
  assert.match(text, /^peft config +r 4, lora_alpha 16, rsLoRA, target_modules all-linear$/m);

  const qv = JSON.parse(cliOk("inspect", seedFile("gguf-qv"), "--json").stdout) as GgufAdapterReport;
  assert.deepEqual([qv.alpha, qv.ranks, qv.target_modules, qv.trainable_params], [16, [4], ["q_proj", "v_proj"], 448]);
});

test("inspect refuses a file that is not .gguf, and a corrupt .gguf, naming the file", () => {
  const txt = join(work, "notes.txt");
  writeFileSync(txt, "hello");
  assert.throws(
    () => inspectPath(txt),
    /notes\.txt is a file; inspect takes a model, adapter or run directory, or a \.gguf file/,
  );
  const bad = join(work, "bad.gguf");
  writeFileSync(bad, "GGUF\u0003\u0000\u0000\u0000");
  assert.throws(
    () => inspectPath(bad),
    (err: Error) => /bad\.gguf: invalid GGUF file: the file ends inside/.test(err.message),
  );
});
