/**
 * The demo task on a quantized base (issue 15's proof): for the f32 base (also held in bf16: base "bf16", --dtype
 * bf16) and --quantize q8_0 and q4_k, the held-out eval loss of the base, a rank-16 LoRA trained as `loratune demo`
 * trains it (all linear layers, batch 8, lr 1e-3, cosine), and the trained model's eval loss and held-out exact
 * match. A base "gguf-<outtype>" is the demo model
 * exported by `loratune export --outtype <outtype>` and trained on as `--model model.gguf` (its embedding and head
 * are quantized too). Usage:
 *   node --import tsx scripts/quantized-demo.ts [out-dir] [steps] [bases, e.g. q4_k,q8_0,f32,gguf-q4_k] [seed]
 * (seed: the training run's --seed, default 7; the task's data stay those of seed 7.)
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { evaluate } from "../src/api/evaluate.ts";
import { exportModel } from "../src/api/export.ts";
import { loadForInference } from "../src/api/models.ts";
import { prepareDemoDir } from "../src/demo/demo-dir.ts";
import { exactMatch, generateTask } from "../src/demo/task.ts";
import { getKernels } from "../src/kernels/index.ts";
import { generateTokens } from "../src/model/generate.ts";
import { DEMO_MODEL_DIR } from "../src/model/load.ts";
import { describeQuantization } from "../src/model/quantize.ts";
import type { QuantizeChoice } from "../src/tensor/formats/index.ts";

const out = process.argv[2] ?? "/tmp/loratune-quantized-demo";
const steps = process.argv[3] ?? "3000";
const bases = (process.argv[4] ?? "q4_k,q8_0,f32").split(",");
const seed = process.argv[5] ?? "7";
const BIN = fileURLToPath(new URL("../bin/loratune.js", import.meta.url));
const task = generateTask({ seed: 7, trainSize: 4000, testSize: 50 });
const files = prepareDemoDir(out, task);

/** The base model of `base`: the demo directory, or its GGUF export for "gguf-<outtype>". */
function baseModel(base: string): string {
  if (!base.startsWith("gguf-")) return DEMO_MODEL_DIR;
  const outtype = base.slice("gguf-".length);
  return join(exportModel({ model: DEMO_MODEL_DIR, outtype, out: join(out, base), overwrite: true }).out, "model.gguf");
}

for (const base of bases) {
  const gguf = base.startsWith("gguf-");
  const quantize = base === "f32" || base === "bf16" || gguf ? undefined : (base as QuantizeChoice);
  const dtype = base === "bf16" ? ("bf16" as const) : undefined;
  const q = quantize ? ["--quantize", quantize] : dtype ? ["--dtype", dtype] : [];
  const model = baseModel(base);
  const evalLoss = async (adapter?: string) =>
    (await evaluate({ model, data: files.test, quantize, dtype, ...(adapter ? { adapter } : {}) })).loss;
  const baseLoss = await evalLoss();
  const dir = join(out, `run-${base}`);
  const args = [BIN, "train", "--model", model, "--data", files.train, "--val", files.test, "--out", dir];
  const flags = ["--steps", steps, "--batch-size", "8", "--seq-len", "128", "--seed", seed, "--lr-schedule", "cosine"];
  const lora = ["--warmup-steps", "10", "--max-grad-norm", "1", "--rank", "16", "--alpha", "32", "--lr", "1e-3"];
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    [...args, ...flags, ...lora, "--targets", "all-linear", "--overwrite", "--json", ...q],
    {
      encoding: "utf8",
      maxBuffer: 2 ** 28,
    },
  );
  if (child.status !== 0) throw new Error(child.stderr);
  const wall = (performance.now() - started) / 1000;
  const done = child.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((l) => l.type === "done");
  const m = loadForInference({ model, adapter: dir, quantize, dtype });
  const tok = m.tokenizer!;
  let correct = 0;
  for (const row of task.test) {
    const r = generateTokens(getKernels(), m.model, tok.encode(row.prompt, { eos: false }), {
      maxTokens: 48,
      stopIds: tok.stopIds,
    });
    if (exactMatch(tok.decode(r.ids, { skipSpecialTokens: true }).split("\n")[0] ?? "", row.completion)) correct++;
  }
  const trainedLoss = await evalLoss(dir);
  console.log(
    JSON.stringify({
      base,
      weights: describeQuantization(m.model),
      baseEvalLoss: +baseLoss.toFixed(4),
      trainedEvalLoss: +trainedLoss.toFixed(4),
      exactMatch: correct / task.test.length,
      tokensPerS: done?.tokens_per_s,
      wallS: +wall.toFixed(1),
    }),
  );
}
