/**
 * `--model org/name` from a Hugging Face cache the test lays out as the hub does (relative symlinks into blobs/):
 * every command that takes --model finds the snapshot (refs/main, or --revision), and computes exactly what it
 * computes on the same model directory; a run records the cache id (config.yaml, the adapter's
 * base_model_name_or_path), so export finds the base again; a model that is not cached is a one-line error with the
 * download command.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { EVAL_OPTIONS } from "../../src/api/evaluate.ts";
import { EXPORT_OPTIONS } from "../../src/api/export.ts";
import { GENERATE_OPTIONS } from "../../src/api/generate.ts";
import { LR_FIND_OPTIONS } from "../../src/api/lr-find.ts";
import { MERGE_OPTIONS } from "../../src/api/merge.ts";
import { LOAD_OPTIONS } from "../../src/api/models.ts";
import { TRAIN_OPTIONS } from "../../src/api/train-options.ts";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { DEMO_MODEL_DIR } from "../../src/model/load.ts";
import { SWEEP_OPTIONS } from "../../src/sweep/options.ts";
import { BIN } from "../helpers/cli.ts";
import { addSnapshot, fakeCommit, modelFiles } from "../helpers/hf-cache.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-hf-e2e-"));
after(() => rmSync(work, { recursive: true, force: true }));
const cache = join(work, "cache");
const demoFiles = modelFiles(DEMO_MODEL_DIR, [
  "config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
  "generation_config.json",
  "chat_template.jinja",
]);
addSnapshot(cache, "org/demo", fakeCommit("main"), demoFiles, ["main", "v1.0"]);
const env = { ...process.env, HF_HUB_CACHE: cache, HF_HOME: join(work, "hf-home") };
const data = await writeTaskDataset(join(work, "data"), { seed: 3, trainSize: 16, testSize: 4 });

function loratune(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env, cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(...args: string[]) {
  const r = loratune(...args);
  assert.equal(r.code, 0, `loratune ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

test("every option table with --model also takes --revision", () => {
  const tables = { TRAIN_OPTIONS, EVAL_OPTIONS, GENERATE_OPTIONS, MERGE_OPTIONS, EXPORT_OPTIONS, LR_FIND_OPTIONS };
  for (const [name, table] of Object.entries({ ...tables, SWEEP_OPTIONS, LOAD_OPTIONS })) {
    assert.ok(
      table.some((d) => d.key === "model"),
      name,
    );
    assert.ok(
      table.some((d) => d.key === "revision"),
      `${name} lacks revision`,
    );
  }
});

test("generate and eval on org/demo (refs/main, a tag, the commit) give what they give on the directory", () => {
  const prompt = ["generate", "--prompt", "Mira the baker", "--max-tokens", "10", "--temperature", "0"];
  const direct = ok(...prompt, "--model", DEMO_MODEL_DIR).stdout;
  assert.equal(ok(...prompt, "--model", "org/demo").stdout, direct);
  assert.equal(ok(...prompt, "--model", "org/demo", "--revision", "v1.0").stdout, direct);
  assert.equal(ok(...prompt, "--model", "org/demo", "--revision", fakeCommit("main")).stdout, direct);
  const evalArgs = ["eval", "--data", data.testPath, "--json"];
  const loss = (r: { stdout: string }) => (JSON.parse(r.stdout) as { loss: number }).loss;
  assert.equal(loss(ok(...evalArgs, "--model", "org/demo")), loss(ok(...evalArgs, "--model", DEMO_MODEL_DIR)));
  const inspected = ok("inspect", "org/demo").stdout;
  assert.match(inspected, /snapshots/);
});

test("train, lr-find, merge and export take org/demo; the run records the cache id and export finds it again", () => {
  const trainArgs = ["train", "--data", data.trainPath, "--steps", "2", "--batch-size", "2", "--seq-len", "64"];
  ok(...trainArgs, "--model", "org/demo", "--revision", "v1.0", "--out", "run-hub");
  ok(...trainArgs, "--model", DEMO_MODEL_DIR, "--out", "run-dir");
  const adapter = (run: string) => readFileSync(join(work, run, "adapter_model.safetensors"));
  assert.ok(adapter("run-hub").equals(adapter("run-dir")), "same base weights, same adapter");
  const config = JSON.parse(readFileSync(join(work, "run-hub", "adapter_config.json"), "utf8"));
  assert.equal(config.base_model_name_or_path, "org/demo");
  const yaml = readFileSync(join(work, "run-hub", "config.yaml"), "utf8");
  assert.match(yaml, /^model: org\/demo$/m);
  assert.match(yaml, /^revision: v1\.0$/m);
  ok("lr-find", "--model", "org/demo", "--data", data.trainPath, "--steps", "2", "--seq-len", "64", "--out", "lr");
  ok("merge", "--model", "org/demo", "--adapter", "run-hub", "--out", "merged");
  // No --model: the adapter's base "org/demo" is found in the cache; the GGUF LoRA is named after the repository.
  ok("export", "--adapter", "run-hub", "--out", "exported");
  ok("export", "--model", "org/demo", "--out", "exported-model");
  assert.match(readFileSync(join(work, "exported-model", "Modelfile"), "utf8"), /FROM/);
});

test("a model not in the cache is an error (no stack trace) naming where it looked and how to download it", () => {
  const r = loratune("generate", "--model", "org/absent", "--prompt", "x", "--max-tokens", "1");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--model org\/absent: not a local path, and not in the Hugging Face cache/);
  assert.ok(r.stderr.includes(join(cache, "models--org--absent")));
  assert.match(r.stderr, /huggingface-cli download org\/absent/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  const rev = loratune("eval", "--model", "org/demo", "--revision", "nope", "--data", data.testPath);
  assert.equal(rev.code, 1);
  assert.match(rev.stderr, /refs\/nope \(no such ref\)/);
  const local = loratune("eval", "--model", DEMO_MODEL_DIR, "--revision", "main", "--data", data.testPath);
  assert.equal(local.code, 2);
  assert.match(local.stderr, /--revision main picks a snapshot of a Hugging Face cache id/);
});
