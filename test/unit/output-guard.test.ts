/** The output rules every writing command follows (checkOutputDir) and a run directory's life (RunDir). */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { RunDir } from "../../src/api/run-dir.ts";
import { checkOutputDir } from "../../src/io/output-guard.ts";
import { readMarker, writeMarker } from "../../src/io/run-marker.ts";

const work = mkdtempSync(join(tmpdir(), "lt-guard-"));
after(() => rmSync(work, { recursive: true, force: true }));

const check = (out: string, inputs: string[], overwrite = true) =>
  checkOutputDir({ out, inputs: inputs.map((path) => ({ flag: "--data", path })), overwrite, replaceable: ["run"] });

test("an output that is, holds, or reaches an input through a symlink is refused", () => {
  const data = join(work, "data");
  mkdirSync(data);
  writeFileSync(join(data, "train.jsonl"), "{}\n");
  assert.throws(() => check(data, [join(data, "train.jsonl")]), /holds the --data input/);
  assert.throws(() => check(work, [join(data, "train.jsonl")]), /holds the --data input/);
  const link = join(work, "link-to-data");
  symlinkSync(data, link);
  assert.throws(() => check(link, [join(data, "train.jsonl")]), /holds the --data input/);
  assert.throws(() => check(join(data, "train.jsonl"), [join(data, "train.jsonl")]), /is the --data input/);
  assert.equal(check(join(work, "fresh"), [join(data, "train.jsonl")]), "new");
  const empty = join(work, "empty");
  mkdirSync(empty);
  assert.equal(check(empty, []), "new", "an empty directory is as good as none");
});

test("only a marked loratune output of an allowed kind may be replaced, and only with overwrite", () => {
  const run = join(work, "run");
  mkdirSync(run);
  writeFileSync(join(run, "x"), "1");
  assert.throws(() => check(run, []), /no loratune\.json/);
  writeMarker(run, { kind: "run", status: "completed" });
  assert.throws(() => check(run, [], false), /already exists and is not empty \(pass --overwrite/);
  assert.equal(check(run, []), "replace");
  writeMarker(run, { kind: "merged-model" });
  assert.throws(() => check(run, []), /holds a loratune merged-model output/);
  writeFileSync(join(run, "loratune.json"), "{not json");
  assert.throws(() => check(run, []), /unreadable loratune marker/);
  const file = join(work, "a-file");
  writeFileSync(file, "");
  assert.throws(() => check(file, []), /exists and is not a directory/);
});

test("RunDir: a failed new run is removed; a failed replacement restores the earlier run; checkpoints are kept", () => {
  const fresh = join(work, "rd-new");
  const r1 = RunDir.open(fresh, "new");
  r1.markRunning(0, 10, null);
  assert.match(r1.fail(new Error("boom")), /was removed/);
  assert.ok(!existsSync(fresh));

  const old = join(work, "rd-old");
  mkdirSync(old);
  writeFileSync(join(old, "adapter_model.safetensors"), "earlier");
  writeMarker(old, { kind: "run", status: "completed" });
  const r2 = RunDir.open(old, "replace");
  assert.ok(!existsSync(join(old, "adapter_model.safetensors")), "the new run starts empty");
  assert.match(r2.fail(new Error("boom")), /holds the earlier run again/);
  assert.equal(readFileSync(join(old, "adapter_model.safetensors"), "utf8"), "earlier");

  const kept = join(work, "rd-kept");
  const r3 = RunDir.open(kept, "new");
  r3.markRunning(0, 10, null);
  mkdirSync(join(kept, "checkpoints", "step-000004"), { recursive: true });
  writeFileSync(join(kept, "checkpoints", "step-000004", "state.json"), "{}");
  assert.match(r3.fail(new Error("step 5: the loss is NaN")), /kept with its last checkpoint \(step-000004\)/);
  const marker = readMarker(kept)!;
  assert.equal(marker.status, "failed");
  assert.equal(marker.error, "step 5: the loss is NaN");
});
