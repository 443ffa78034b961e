/**
 * node --import tsx scripts/export-agreement.ts [--run loratune-demo/run] [--data loratune-demo/test.jsonl]
 *
 * Measures how far llama.cpp (node-llama-cpp, pinned) agrees with loratune on a demo run's export: for every
 * held-out prompt, greedy answers from loratune (f32, PEFT adapter) and from llama.cpp on the base GGUF + GGUF LoRA
 * and on the merged GGUF in each output type. Prints a markdown table: the task's exact match, the share of
 * answers identical to loratune's, and the gap between the two sides' probabilities of the tokens they share
 * (mean and largest). The README's agreement table comes from this script.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { exportModel } from "../src/api/export.ts";
import { loadForInference } from "../src/api/models.ts";
import { exactMatch } from "../src/demo/task.ts";
import { availableOuttypes } from "../src/gguf/outtype.ts";
import { DEMO_MODEL_DIR } from "../src/model/load.ts";
import { agreeing, type Greedy, llamaGreedy, loadLlamaCpp, ourGreedy } from "../test/helpers/llama-cpp.ts";

const { values } = parseArgs({
  options: {
    run: { type: "string", default: "loratune-demo/run" },
    data: { type: "string", default: "loratune-demo/test.jsonl" },
  },
});
const rows = readFileSync(values.data!, "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l) as { prompt: string; completion: string });
const loaded = await loadLlamaCpp();
if (typeof loaded === "string") throw new Error(loaded);
const llama = loaded;
const tuned = loadForInference({ model: DEMO_MODEL_DIR, adapter: values.run! });
const tok = tuned.tokenizer!;
const prompts = rows.map((r) => tok.encode(r.prompt, { eos: false }));
const answer = (g: Greedy) => tok.decode(g.ids, { skipSpecialTokens: true }).split("\n")[0] ?? "";
const exact = (gs: Greedy[]) => gs.filter((g, i) => exactMatch(answer(g), rows[i]!.completion)).length / rows.length;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

const ours = prompts.map((p) => ourGreedy(tuned.model, p, 48, tok.stopIds));
const lines = [`| loratune f32 + PEFT adapter | ${pct(exact(ours))} | | | |`];

async function measure(label: string, gguf: string, lora?: string): Promise<void> {
  const model = await llama.loadModel({ modelPath: gguf });
  const theirs: Greedy[] = [];
  for (const p of prompts) {
    theirs.push(await llamaGreedy(model, p, 48, { stopIds: tok.stopIds, contextSize: 256, ...(lora ? { lora } : {}) }));
  }
  await model.dispose();
  let same = 0;
  let gapSum = 0;
  let gapN = 0;
  let gapMax = 0;
  theirs.forEach((t, i) => {
    if (answer(t) === answer(ours[i]!)) same++;
    for (let j = 0; j < agreeing(t.ids, ours[i]!.ids); j++) {
      const gap = Math.abs(t.probs[j]! - ours[i]!.probs[j]!);
      gapSum += gap;
      gapN++;
      gapMax = Math.max(gapMax, gap);
    }
  });
  lines.push(
    `| llama.cpp ${label} | ${pct(exact(theirs))} | ${pct(same / rows.length)} | ${(gapSum / gapN).toExponential(1)} | ${gapMax.toExponential(1)} |`,
  );
}

const work = mkdtempSync(join(tmpdir(), "loratune-agreement-"));
try {
  const separate = join(work, "lora");
  exportModel({ model: "demo", adapter: values.run!, separateAdapter: true, out: separate, outtype: "f32" });
  await measure("f32 base + GGUF LoRA", join(separate, "model.gguf"), join(separate, "adapter.gguf"));
  for (const outtype of availableOuttypes()) {
    const out = join(work, outtype);
    exportModel({ model: "demo", adapter: values.run!, out, outtype });
    await measure(`merged ${outtype}`, join(out, "model.gguf"));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `${rows.length} held-out prompts of ${values.data}, greedy, up to 48 tokens\n\n` +
    "| scored by | exact match | answers = loratune's | mean prob. gap | max prob. gap |\n|---|---|---|---|---|\n" +
    lines.join("\n"),
);
