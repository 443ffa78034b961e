/**
 * End-to-end runs of the `loratune` command on the tiny golden model: train reproduces the PyTorch reference's
 * 5-step losses, eval/generate/merge agree with each other, and bad input exits non-zero with one clear line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cli, GOLDEN } from "../helpers/cli.ts";

const G = GOLDEN;
const TINY = join(G, "models", "tiny");
const DATA = join(G, "train", "data.jsonl");

const work = mkdtempSync(join(tmpdir(), "loratune-e2e-"));
const run = join(work, "run");

/** The reference's 5-step run (test/fixtures/golden/train/b0) as `loratune train` flags. */
const GOLDEN_RUN = [
  ...["--model", TINY, "--data", DATA, "--init-adapter", join(G, "train", "b0", "init"), "--steps", "5"],
  ...["--batch-size", "4", "--lr", "1e-3", "--no-shuffle", "--seq-len", "16"],
];

test("train: 5 steps reproduce the PyTorch reference losses and write the run directory", () => {
  const r = cli("train", ...GOLDEN_RUN, "--out", run);
  assert.equal(r.code, 0, r.stderr);
  const want = JSON.parse(readFileSync(join(G, "train", "b0", "losses.json"), "utf8")).losses as number[];
  const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((m) => m.step),
    [1, 2, 3, 4, 5],
  );
  rows.forEach((m, i) => {
    assert.ok(Math.abs(m.loss - want[i]!) < 1e-5 * want[i]!, `step ${i + 1}: ${m.loss} vs ${want[i]}`);
  });
  for (const key of ["loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"]) assert.ok(key in rows[0], key);
  const cfg = JSON.parse(readFileSync(join(run, "adapter_config.json"), "utf8"));
  assert.equal(cfg.peft_type, "LORA");
  assert.match(readFileSync(join(run, "report.html"), "utf8"), /<svg/);
  assert.match(readFileSync(join(run, "config.yaml"), "utf8"), /batch-size: 4/);
});

test("train --grad-checkpoint: the same run, bit for bit", () => {
  const ckpt = join(work, "run-ckpt");
  const r = cli("train", ...GOLDEN_RUN, "--out", ckpt, "--grad-checkpoint");
  assert.equal(r.code, 0, r.stderr);
  const losses = (dir: string) =>
    readFileSync(join(dir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).loss as number);
  assert.deepEqual(losses(ckpt), losses(run));
  const weights = (dir: string) => readFileSync(join(dir, "adapter_model.safetensors"));
  assert.ok(weights(ckpt).equals(weights(run)), "identical adapter files");
  assert.match(readFileSync(join(ckpt, "config.yaml"), "utf8"), /grad-checkpoint: true/);
});

test("eval --json, merge, and the merged model give the same loss and tokens as the adapter", () => {
  const a = JSON.parse(cli("eval", "--model", TINY, "--adapter", run, "--data", DATA, "--json").stdout);
  const base = JSON.parse(cli("eval", "--model", TINY, "--data", DATA, "--json").stdout);
  assert.equal(a.tokens, 285);
  assert.notEqual(a.loss, base.loss);
  assert.ok(Math.abs(a.perplexity - Math.exp(a.loss)) < 1e-9 * a.perplexity);
  const merged = join(work, "merged");
  assert.equal(cli("merge", "--model", TINY, "--adapter", run, "--out", merged).code, 0);
  const m = JSON.parse(cli("eval", "--model", merged, "--data", DATA, "--json").stdout);
  assert.ok(Math.abs(m.loss - a.loss) <= 1e-5 * a.loss, `${m.loss} vs ${a.loss}`);
  const gen = (...extra: string[]) =>
    JSON.parse(cli("generate", "--prompt-ids", "5,6,7", "--max-tokens", "6", "--json", ...extra).stdout).ids;
  assert.deepEqual(gen("--model", merged), gen("--model", TINY, "--adapter", run));
});

test("errors: one line, no stack trace, exit 1 for bad input and 2 for usage", () => {
  const missing = cli("eval", "--model", join(work, "nope"), "--data", DATA);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^loratune: .*nope.*not found\n$/);
  assert.equal(cli("train", "--model", TINY).code, 2);
  assert.equal(cli("generate", "--model", TINY, "--prompt-ids", "1,x").code, 2);
  const bad = join(work, "bad.jsonl");
  writeFileSync(bad, '{"input_ids": [1, 2, 3]}\n{"input_ids": [1, 2,\n');
  const r = cli("eval", "--model", TINY, "--data", bad);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.jsonl:2/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const exists = cli("train", "--model", TINY, "--data", DATA, "--out", run, "--steps", "1");
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /--overwrite/);
});

test("--help and --version", () => {
  const help = cli("train", "--help");
  assert.equal(help.code, 0);
  for (const flag of [
    "--rank",
    "--alpha",
    "--dropout",
    "--targets",
    "--lr",
    "--steps",
    "--batch-size",
    "--seq-len",
    "--seed",
    "--init-adapter",
    "--no-shuffle",
    "--grad-accum",
    "--lr-schedule",
    "--resume",
    "--config",
  ]) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  assert.match(cli("--version").stdout, /^\d+\.\d+\.\d+/);
});

test("--config: a YAML file sets options, flags win, unknown keys are refused with a suggestion", () => {
  const cfg = join(work, "train.yaml");
  writeFileSync(cfg, `model: ${TINY}\ndata: ${DATA}\nsteps: 3\nbatch_size: 2\nseq-len: 16\nno_shuffle: true\n`);
  const bad = cli("train", "--config", cfg, "--out", join(work, "cfg-bad"));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option "no_shuffle".*did you mean "shuffle"/);
  writeFileSync(cfg, `model: ${TINY}\ndata: ${DATA}\nsteps: 3\nbatch_size: 2\nseq-len: 16\nshuffle: false\n`);
  const out = join(work, "cfg-run");
  const r = cli("train", "--config", cfg, "--out", out, "--steps", "1");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").length,
    1,
    "--steps on the command line wins",
  );
  const resolved = readFileSync(join(out, "config.yaml"), "utf8");
  assert.match(resolved, /batch-size: 2/);
  assert.match(resolved, /shuffle: false/);
  writeFileSync(cfg, "model: [1, 2]\n");
  assert.equal(cli("train", "--config", cfg, "--data", DATA, "--out", join(work, "cfg-x")).code, 2);
});
