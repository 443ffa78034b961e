/**
 * Interrupting training: SIGINT or SIGTERM lets `loratune train` finish the current step, write a checkpoint,
 * and exit with a message saying how to resume; `--resume` then continues bit-exactly (the adapter equals an
 * uninterrupted run's).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BIN, cliOk, GOLDEN } from "../helpers/cli.ts";

const G = GOLDEN;
/** Steps of every run here: the interrupted run is signalled after its first step, far from the end. */
const TOTAL = 40;
const ARGS = [
  "train",
  "--model",
  join(G, "models", "tiny"),
  "--data",
  join(G, "train", "data.jsonl"),
  "--batch-size",
  "4",
  "--seq-len",
  "16",
  "--lr",
  "1e-3",
  "--dropout",
  "0.1",
  "--seed",
  "3",
];

const work = mkdtempSync(join(tmpdir(), "lt-signals-"));
after(() => rmSync(work, { recursive: true, force: true }));

const train = (out: string, ...extra: string[]) => cliOk(...ARGS, "--out", out, ...extra);

const metricSteps = (out: string) =>
  existsSync(join(out, "metrics.jsonl"))
    ? readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").filter(Boolean).length
    : 0;

/** Starts a run, sends `signal` once it has finished a step, and collects its exit and output. */
function interrupt(out: string, signal: NodeJS.Signals): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [BIN, ...ARGS, "--out", out, "--steps", String(TOTAL)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const poll = setInterval(() => {
    if (metricSteps(out) >= 1) {
      clearInterval(poll);
      child.kill(signal);
    }
  }, 5);
  return new Promise((resolve) => {
    child.on("exit", (code) => {
      clearInterval(poll);
      resolve({ code, output });
    });
  });
}

let reference: Buffer | null = null;
/** The adapter of an uninterrupted TOTAL-step run (made once). */
function referenceAdapter(): Buffer {
  if (reference === null) {
    const ref = join(work, "ref");
    train(ref, "--steps", String(TOTAL));
    reference = readFileSync(join(ref, "adapter_model.safetensors"));
  }
  return reference;
}

const runs = new Map<string, Promise<{ code: number | null; output: string }>>();
/** One interrupted run per signal, shared by the tests below. */
function interrupted(signal: NodeJS.Signals) {
  if (!runs.has(signal)) runs.set(signal, interrupt(join(work, signal), signal));
  return runs.get(signal)!;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`${signal}: the current step finishes, a checkpoint is written, the message says how to resume`, async () => {
    const out = join(work, signal);
    const r = await interrupted(signal);
    assert.match(r.output, new RegExp(`${signal}: finishing the current step and writing a checkpoint`));
    const m = /interrupted at step (\d+); continue with: loratune train --resume (\S+)/.exec(r.output);
    assert.ok(m, `no resume hint in:\n${r.output}`);
    const step = Number(m[1]);
    assert.equal(m[2], out);
    assert.ok(step >= 1 && step < TOTAL, `interrupted at step ${step}`);
    assert.equal(metricSteps(out), step, "every finished step is in metrics.jsonl, none half-done");
    const ckpt = join(out, "checkpoints", `step-${String(step).padStart(6, "0")}`);
    assert.ok(existsSync(join(ckpt, "state.json")), `${ckpt} is written`);
    assert.equal(JSON.parse(readFileSync(join(ckpt, "state.json"), "utf8")).step, step);

    const resumed = cliOk("train", "--resume", out); // the run's own settings, nothing retyped
    assert.match(resumed.stdout + resumed.stderr, new RegExp(`resuming at step ${step} of ${TOTAL}`));
    assert.ok(
      readFileSync(join(out, "adapter_model.safetensors")).equals(referenceAdapter()),
      "resumed adapter is byte-identical to the uninterrupted run's",
    );
  });

  test(`${signal}: an interrupted run exits with status 130 (not 0)`, async () => {
    const r = await interrupted(signal);
    assert.ok(r.code === 130 || (signal === "SIGTERM" && r.code === 143), `exit code ${r.code}`);
  });
}
