/**
 * Issue 15's proof on the demo task: LoRA (rank 16, all linear layers, 3000 steps, batch 8, lr 1e-3, cosine; the
 * recipe of `loratune demo` and scripts/quantized-demo.ts) on the demo model quantized on load to q4_k reaches at
 * least 95% held-out exact match on the 50 held-out sentences, through the CLI a user runs (`train --quantize
 * q4_k`, then `eval --metric exact-match`), in about 1.5 minutes on 2 cores.
 *
 * The recipe's outcome depends on the run's seed for every base, the f32 one included: at seed 8 the f32 base
 * itself ends at 32% (README, "Quantized bases"). At seed 9 every base converges (f32 96%, q4_k 100% with the block
 * products exact or rounded to bf16, LORATUNE_BLOCK_COMPUTE), so this test says whether a q4_k base trains as the
 * f32 one does; the README's table gives the other seeds.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { prepareDemoDir } from "../../src/demo/demo-dir.ts";
import { generateTask } from "../../src/demo/task.ts";
import { cliOk } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-quantized-demo-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("LoRA on a q4_k base reaches at least 95% held-out exact match on the demo task", () => {
  const files = prepareDemoDir(join(work, "data"), generateTask({ seed: 7, trainSize: 4000, testSize: 50 }));
  const run = join(work, "run");
  const base = ["--model", "demo", "--quantize", "q4_k"];
  const evalJson = (...extra: string[]) =>
    JSON.parse(cliOk("eval", ...base, ...extra, "--data", files.test, "--metric", "exact-match", "--json").stdout);
  const before = evalJson();
  cliOk(
    "train",
    ...base,
    ...["--data", files.train, "--val", files.test, "--out", run, "--steps", "3000", "--batch-size", "8"],
    ...["--seq-len", "128", "--seed", "9", "--lr-schedule", "cosine", "--warmup-steps", "10", "--max-grad-norm", "1"],
    ...["--rank", "16", "--alpha", "32", "--lr", "1e-3", "--targets", "all-linear"],
  );
  const trained = evalJson("--adapter", run);
  console.log(
    `# demo task on q4_k: eval loss ${before.loss.toFixed(4)} → ${trained.loss.toFixed(4)}, ` +
      `exact match ${before.exact_match} → ${trained.exact_match}`,
  );
  assert.equal(before.exact_match, 0, "the base model does not know the task");
  assert.ok(trained.exact_match >= 0.95, `held-out exact match ${trained.exact_match} < 0.95`);
  assert.ok(trained.loss < 0.3, `held-out loss ${trained.loss}`);
});
