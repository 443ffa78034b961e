/**
 * Run directories a user can trust, through the `loratune` command on the tiny golden model: --overwrite never
 * destroys what loratune did not write or what is an input, a failed run leaves nothing half-written, a run
 * resumes and extends from its directory alone, config.yaml reproduces the run, and epochs × accumulation count
 * the steps that actually run.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { cli, cliOk, GOLDEN } from "../helpers/cli.ts";

const TINY = join(GOLDEN, "models", "tiny");
const work = mkdtempSync(join(tmpdir(), "lt-rundir-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** 38 pre-tokenized rows of 12 tokens (the tiny model has no tokenizer). */
const DATA = join(work, "data", "rows.jsonl");
mkdirSync(join(work, "data"));
writeFileSync(
  DATA,
  Array.from({ length: 38 }, (_, i) =>
    JSON.stringify({ input_ids: Array.from({ length: 12 }, (_, t) => (i * 7 + t * 13) % 500) }),
  )
    .join("\n")
    .concat("\n"),
);
const BASE = ["--model", TINY, "--data", DATA, "--seq-len", "16", "--lr", "1e-3", "--seed", "5"];

const adapterBytes = (dir: string) => readFileSync(join(dir, "adapter_model.safetensors"));
const metricsText = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8");
const trainSteps = (dir: string) =>
  metricsText(dir)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === "train").length;

test("--overwrite never deletes an input, the current folder, or a folder loratune did not write", () => {
  const data = join(work, "data");
  const r1 = cli("train", ...BASE, "--out", data, "--steps", "1", "--overwrite");
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /--out .*data holds the --data input/);
  assert.ok(existsSync(DATA), "the dataset is still there");

  const r2 = cli("train", ...BASE, "--out", ".", "--steps", "1", "--overwrite");
  assert.match(r2.stderr, /is the current directory or one of its parents/);

  const foreign = join(work, "mine");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "notes.txt"), "precious");
  const r3 = cli("train", ...BASE, "--out", foreign, "--steps", "1", "--overwrite");
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /not a directory loratune wrote \(no loratune\.json\), so loratune will not replace it/);
  assert.equal(readFileSync(join(foreign, "notes.txt"), "utf8"), "precious");
  assert.deepEqual(readdirSync(foreign), ["notes.txt"]);

  for (const r of [r1, r2, r3]) assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /);
});

test("--overwrite replaces an earlier loratune run; merge never writes over its adapter or a run", () => {
  const out = join(work, "replace");
  cliOk("train", ...BASE, "--out", out, "--steps", "1");
  const marker = JSON.parse(readFileSync(join(out, "loratune.json"), "utf8"));
  assert.equal(marker.kind, "run");
  assert.equal(marker.status, "completed");
  assert.equal(cli("train", ...BASE, "--out", out, "--steps", "2").code, 1, "refused without --overwrite");
  cliOk("train", ...BASE, "--out", out, "--steps", "2", "--overwrite");
  assert.equal(trainSteps(out), 2);

  const m1 = cli("merge", "--model", TINY, "--adapter", out, "--out", out, "--overwrite");
  assert.equal(m1.code, 1);
  assert.match(m1.stderr, /is the --adapter input/);
  assert.ok(existsSync(join(out, "adapter_model.safetensors")));
  const merged = join(work, "merged");
  cliOk("merge", "--model", TINY, "--adapter", out, "--out", merged);
  assert.equal(JSON.parse(readFileSync(join(merged, "loratune.json"), "utf8")).kind, "merged-model");
  cliOk("merge", "--model", TINY, "--adapter", out, "--out", merged, "--overwrite");
  const other = cliOk("train", ...BASE, "--out", join(work, "other-run"), "--steps", "1");
  assert.ok(other);
  const m2 = cli("merge", "--model", TINY, "--adapter", out, "--out", join(work, "other-run"), "--overwrite");
  assert.match(m2.stderr, /holds a loratune run output, which this command does not replace/);
});

/** A copy of the tiny model whose final norm is NaN: training fails at step 1 with a non-finite loss. */
function brokenModel(): string {
  const dir = join(work, "nan-model");
  if (existsSync(dir)) return dir;
  cpSync(TINY, dir, { recursive: true });
  const tensors = readSafetensors(join(dir, "model.safetensors"), "f32");
  const out = new Map([...tensors].map(([k, t]) => [k, { dtype: "F32" as const, shape: t.shape, data: t.data }]));
  (out.get("model.norm.weight")!.data as Float32Array).fill(Number.NaN);
  writeSafetensors(join(dir, "model.safetensors"), out, { format: "pt" });
  return dir;
}

test("a failed run leaves nothing it created, and a failed --overwrite puts the earlier run back", () => {
  const nan = brokenModel();
  const fresh = join(work, "failed-fresh");
  const r = cli("train", ...BASE, "--model", nan, "--out", fresh, "--steps", "3");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the loss is NaN/);
  assert.match(r.stderr, /the failed run left nothing; .*failed-fresh was removed/);
  assert.ok(!existsSync(fresh));

  const earlier = join(work, "failed-replace");
  cliOk("train", ...BASE, "--out", earlier, "--steps", "2");
  const before = adapterBytes(earlier);
  const r2 = cli("train", ...BASE, "--model", nan, "--out", earlier, "--steps", "3", "--overwrite");
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /holds the earlier run again/);
  assert.ok(adapterBytes(earlier).equals(before), "the earlier run is back, byte for byte");
  assert.equal(readdirSync(work).filter((n) => n.includes(".replaced-")).length, 0, "no leftovers beside it");

  assert.equal(cli("train", ...BASE, "--data", join(work, "missing.jsonl"), "--out", join(work, "nodata")).code, 1);
  assert.ok(!existsSync(join(work, "nodata")), "bad input: nothing created");
});

test("--resume DIR alone continues, extends a finished run bit for bit, and refuses changed settings", () => {
  const straight = join(work, "straight");
  cliOk("train", ...BASE, "--out", straight, "--steps", "6", "--grad-accum", "2");
  const run = join(work, "extend");
  cliOk("train", ...BASE, "--out", run, "--steps", "3", "--grad-accum", "2");

  const metricsBefore = metricsText(run);
  const done = cliOk("train", "--resume", run);
  assert.match(done.stdout, /already complete \(3 of 3 steps\); nothing was changed/);
  assert.equal(metricsText(run), metricsBefore, "metrics.jsonl untouched");

  const changed = cli("train", "--resume", run, "--steps", "6", "--lr", "5e-4", "--batch-size", "2");
  assert.equal(changed.code, 2);
  assert.match(changed.stderr, /--batch-size: the run used 4, this command says 2/);
  assert.match(changed.stderr, /--lr: the run used 0\.001, this command says 0\.0005/);

  cliOk("train", "--resume", run, "--steps", "6");
  assert.ok(adapterBytes(run).equals(adapterBytes(straight)), "3 + 3 steps = 6 steps");
  assert.equal(trainSteps(run), 6);
  assert.match(readFileSync(join(run, "config.yaml"), "utf8"), /^steps: 6$/m);
  assert.equal(JSON.parse(readFileSync(join(run, "loratune.json"), "utf8")).steps_done, 6);

  const cosine = join(work, "cosine");
  cliOk("train", ...BASE, "--out", cosine, "--steps", "3", "--lr-schedule", "cosine");
  const ext = cliOk("train", "--resume", cosine, "--steps", "5");
  assert.match(ext.stderr, /cosine learning-rate schedule is laid out again over 5 steps \(it was 3\)/);
});

test("config.yaml is a valid --config that reproduces the run; relative paths resolve from the file's folder", () => {
  const first = join(work, "cfg-first");
  cliOk("train", ...BASE, "--out", first, "--steps", "2", "--targets", "all-linear", "--rank", "4", "--dropout", "0.1");
  const again = join(work, "cfg-again");
  cliOk("train", "--config", join(first, "config.yaml"), "--out", again);
  assert.ok(adapterBytes(again).equals(adapterBytes(first)), "bit for bit");

  const sub = join(work, "configs");
  mkdirSync(sub);
  writeFileSync(
    join(sub, "run.yaml"),
    `model: ${relative(sub, TINY)}\ndata: ../data/rows.jsonl\nsteps: 1\nseq_len: 16\n`,
  );
  cliOk("train", "--config", join(sub, "run.yaml"), "--out", join(work, "cfg-rel"));
});

test("--epochs with --grad-accum counts the optimizer steps that run; batch sizes need not divide the data", () => {
  const out = join(work, "epochs");
  const totals = (stdout: string) =>
    stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === "step")
      .map((r) => `${r.step}/${r.total_steps}`);
  const r = cliOk("train", ...BASE, "--out", out, "--epochs", "2", "--batch-size", "4", "--grad-accum", "4", "--json");
  // 38 rows → 10 micro-batches per epoch → 20 micro-batches → 5 optimizer steps of 4.
  assert.deepEqual(totals(r.stdout), ["1/5", "2/5", "3/5", "4/5", "5/5"]);
  const odd = join(work, "epochs-odd");
  const r2 = cliOk("train", ...BASE, "--out", odd, "--epochs", "2", "--batch-size", "5", "--grad-accum", "3", "--json");
  // 38 rows → 8 micro-batches per epoch → 16 → 6 steps (the last has one micro-batch).
  assert.deepEqual(totals(r2.stdout), ["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]);
  assert.equal(trainSteps(odd), 6);
  // The schedule ends at the last step that runs: linear decay over 6 steps gives step 6 lr/6.
  const lin = join(work, "epochs-linear");
  cliOk(
    "train",
    ...BASE,
    "--out",
    lin,
    "--epochs",
    "2",
    "--batch-size",
    "5",
    "--grad-accum",
    "3",
    "--lr-schedule",
    "linear",
  );
  const last = JSON.parse(metricsText(lin).trim().split("\n").at(-1)!);
  assert.equal(last.step, 6);
  assert.ok(Math.abs(last.lr - 1e-3 / 6) < 1e-12, `last lr ${last.lr}`);
});

test("settings that never take effect are warned about; --init-adapter with another rank is refused", () => {
  const out = join(work, "warn");
  const r = cliOk(
    "train",
    ...BASE,
    "--out",
    out,
    "--steps",
    "2",
    "--warmup-steps",
    "5",
    "--save-every",
    "10",
    "--eval-every",
    "3",
  );
  assert.match(r.stderr, /--warmup-steps 5 is not shorter than the run \(2 steps\)/);
  assert.match(r.stderr, /--save-every 10 is beyond the last step/);
  assert.match(r.stderr, /--eval-every has no effect without validation data/);

  const bad = cli("train", ...BASE, "--out", join(work, "init-bad"), "--init-adapter", out, "--rank", "4");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--rank 4 \(the adapter has 8\)/);
  cliOk("train", ...BASE, "--out", join(work, "init-ok"), "--init-adapter", out, "--steps", "1");
  assert.match(readFileSync(join(work, "init-ok", "config.yaml"), "utf8"), /^rank: 8$/m);
});

test("the summary names each data file's detected shape and the Alpaca prompt format; --help describes it", () => {
  const alpaca = join(work, "data", "alpaca.jsonl");
  writeFileSync(alpaca, `${JSON.stringify({ instruction: "Say hi", input: "", output: "hi" })}\n`.repeat(3));
  const texts = join(work, "data", "texts.jsonl");
  writeFileSync(texts, `${JSON.stringify({ text: "Lila lives in Bellcross." })}\n`.repeat(2));
  const r = cliOk(
    "train",
    "--model",
    "demo",
    "--data",
    `${alpaca},${texts}`,
    "--out",
    join(work, "shapes"),
    "--steps",
    "1",
  );
  assert.match(r.stdout, /alpaca\.jsonl: 3 alpaca rows \(prompt format: Stanford Alpaca\)/);
  assert.match(r.stdout, /texts\.jsonl: 2 text rows/);
  assert.match(cliOk("train", "--help").stdout, /Stanford Alpaca prompt \("Below is an instruction/);
});

test("bounds the CLI checks before anything runs: --lr 0, --alpha 0, --dropout 1, --layers x", () => {
  for (const [flag, value, message] of [
    ["--lr", "0", /--lr: must be greater than 0/],
    ["--alpha", "0", /--alpha: must be greater than 0/],
    ["--dropout", "1", /--dropout: must be below 1/],
    ["--val-split", "1", /--val-split: must be below 1/],
    ["--layers", "0,x", /--layers: "x" is not a layer index/],
  ] as const) {
    const r = cli("train", ...BASE, "--out", join(work, "bounds"), flag, value);
    assert.equal(r.code, 2, `${flag} ${value}`);
    assert.match(r.stderr, message);
    assert.ok(!existsSync(join(work, "bounds")));
  }
});

test("--val-split that leaves no training rows is a usage error, not 'every label is masked'", () => {
  const one = join(work, "data", "one.jsonl");
  writeFileSync(one, `${JSON.stringify({ input_ids: [1, 2, 3, 4] })}\n`);
  const r = cli("train", ...BASE, "--data", one, "--val-split", "0.5", "--out", join(work, "split"), "--steps", "1");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--val-split 0\.5 of 1 row leaves no training rows/);
});
