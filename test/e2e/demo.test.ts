/**
 * A short `loratune demo` run (few steps, few held-out examples): the base model scores 0 on the task, the
 * adapter gets fields right that the base model never does, and merged outputs equal unmerged ones. Then
 * llama.cpp judges the run's export: the task's exact match scored through llama.cpp (merged GGUF in every
 * output type, and base GGUF + GGUF LoRA) against loratune's own score on the same held-out rows.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { exportModel } from "../../src/api/export.ts";
import { loadForInference } from "../../src/api/models.ts";
import { fieldAccuracy, runDemo } from "../../src/demo/run-demo.ts";
import { exactMatch, generateTask, type PromptRow } from "../../src/demo/task.ts";
import { availableOuttypes } from "../../src/gguf/outtype.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { generateTokens } from "../../src/model/generate.ts";
import { DEMO_MODEL_DIR } from "../../src/model/load.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { llamaGreedy, loadLlamaCpp } from "../helpers/llama-cpp.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-demo-test-"));
after(() => rmSync(work, { recursive: true, force: true }));
let runDir: string | undefined;

test("a short demo run improves the held-out metric and merges exactly", async () => {
  const out = join(work, "run");
  const lines: string[] = [];
  const r = await runDemo({
    out,
    seed: 7,
    steps: 300,
    trainSize: 1000,
    testSize: 12,
    rank: 16,
    lr: 1e-3,
    batchSize: 8,
    say: (t) => lines.push(t),
  });
  assert.equal(r.before, 0, "the base model cannot do the task");
  const mean = (f: Record<string, number>) => Object.values(f).reduce((a, b) => a + b, 0) / 4;
  assert.ok(
    mean(r.fieldsAfter) >= mean(r.fieldsBefore) + 0.4,
    `fields before ${JSON.stringify(r.fieldsBefore)} after ${JSON.stringify(r.fieldsAfter)}`,
  );
  assert.ok(r.mergedIdentical, "merged and unmerged outputs are identical");
  assert.ok(lines.some((l) => l.includes("held-out exact match before training")));
  assert.equal(
    lines.at(-1),
    `for llama.cpp and Ollama: loratune export --model demo --adapter ${r.outDir} --out ${join(out, "gguf")}`,
  );
  runDir = r.outDir;
});

/** The first line of a greedy answer, as the demo scores it. */
const answer = (tok: Tokenizer, ids: number[]) => tok.decode(ids, { skipSpecialTokens: true }).split("\n")[0] ?? "";
const exactShare = (predictions: string[], rows: PromptRow[]) =>
  predictions.filter((p, i) => exactMatch(p, rows[i]!.completion)).length / rows.length;
/** Mean share of the four fields right (a short run gets fields right before whole answers). */
const fieldShare = (predictions: string[], rows: PromptRow[]) =>
  Object.values(fieldAccuracy(predictions, rows)).reduce((a, b) => a + b, 0) / 4;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

const llama = await loadLlamaCpp();
const skip = typeof llama === "string" ? llama : false;

test("the demo's export, scored through llama.cpp, matches loratune's exact match within 2 points", {
  skip,
}, async (t) => {
  if (runDir === undefined) return t.skip("the demo run above failed");
  const rows = generateTask({ seed: 11, trainSize: 1, testSize: 100 }).test;
  const tuned = loadForInference({ model: DEMO_MODEL_DIR, adapter: runDir });
  const tok = tuned.tokenizer!;
  const prompts = rows.map((r) => tok.encode(r.prompt, { eos: false }));
  const ours = prompts.map((p) =>
    answer(tok, generateTokens(getKernels(), tuned.model, p, { maxTokens: 48, stopIds: tok.stopIds }).ids),
  );
  const table = [
    `| loratune (f32, PEFT adapter) | ${pct(exactShare(ours, rows))} | ${pct(fieldShare(ours, rows))} | |`,
  ];
  /** Scores llama.cpp's answers; those identical to loratune's are counted too. */
  const judge = async (label: string, gguf: string, lora?: string) => {
    const model = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: gguf });
    const predictions: string[] = [];
    try {
      for (const p of prompts) {
        const o = { stopIds: tok.stopIds, contextSize: 256, ...(lora ? { lora } : {}) };
        predictions.push(answer(tok, (await llamaGreedy(model, p, 48, o)).ids));
      }
    } finally {
      await model.dispose();
    }
    const same = predictions.filter((p, i) => p === ours[i]).length / rows.length;
    const em = exactShare(predictions, rows);
    table.push(`| llama.cpp: ${label} | ${pct(em)} | ${pct(fieldShare(predictions, rows))} | ${pct(same)} |`);
    assert.ok(Math.abs(em - exactShare(ours, rows)) <= 0.02, `${label}: exact match ${em} vs loratune's`);
    return same;
  };
  const separate = join(work, "gguf-lora");
  exportModel({ model: "demo", adapter: runDir, separateAdapter: true, out: separate, outtype: "f32" });
  const viaLora = await judge("f32 base + GGUF LoRA", join(separate, "model.gguf"), join(separate, "adapter.gguf"));
  assert.ok(viaLora >= 0.95, `only ${pct(viaLora)} of the GGUF LoRA's answers are loratune's`);
  for (const outtype of availableOuttypes().filter((t) => ["f32", "f16", "bf16", "q8_0"].includes(t))) {
    const out = join(work, `gguf-${outtype}`);
    exportModel({ model: "demo", adapter: runDir, out, outtype });
    const same = await judge(`merged ${outtype}`, join(out, "model.gguf"));
    if (outtype === "f32") assert.ok(same >= 0.95, `only ${pct(same)} of the merged f32 answers are loratune's`);
  }
  console.log(
    `# demo task (short run), ${rows.length} held-out rows\n` +
      `| scored by | exact match | fields right | answers = loratune's |\n|---|---|---|---|\n${table.join("\n")}`,
  );
});
