/**
 * Crash safety of training checkpoints: `loratune train --save-every 1` on the tiny golden model is killed
 * with SIGKILL while a checkpoint is being written (when its temporary `.step-*.tmp-*` directory appears),
 * then at a random moment; each time the last complete checkpoint must be intact and `--resume` must carry on.
 * The final adapter (bytes) and every step's loss must equal those of an uninterrupted run.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, type FSWatcher, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { listCheckpoints } from "../../src/train/checkpoint.ts";
import { BIN, cliOk, GOLDEN } from "../helpers/cli.ts";

const G = GOLDEN;
const STEPS = 14;
/** Rank 32 on every linear makes each checkpoint a few MB, so a write takes long enough to be caught. */
const ARGS = [
  "train",
  "--model",
  join(G, "models", "tiny"),
  "--data",
  join(G, "train", "data.jsonl"),
  "--steps",
  String(STEPS),
  "--batch-size",
  "4",
  "--seq-len",
  "16",
  "--lr",
  "1e-3",
  "--dropout",
  "0.1",
  "--rank",
  "32",
  "--targets",
  "all-linear",
  "--seed",
  "7",
  "--save-every",
  "1",
  "--keep-checkpoints",
  "2",
];

const work = mkdtempSync(join(tmpdir(), "lt-kill-"));
after(() => rmSync(work, { recursive: true, force: true }));

const train = (out: string, ...extra: string[]) => cliOk(...ARGS, "--out", out, ...extra);

const TMP_DIR = /^\.step-(\d+)\.tmp-/;

/**
 * Starts a run and SIGKILLs it as soon as it starts writing the checkpoint of step `tmpStepAtLeast` or later
 * (its temporary directory appears), or `delayMs` after it starts writing its first checkpoint. Resolves with
 * the temporary checkpoint directories this run left behind (a kill that landed mid-write).
 */
function runAndKill(
  out: string,
  extra: string[],
  when: { tmpStepAtLeast: number } | { delayMs: number },
): Promise<{ leftovers: string[]; signal: NodeJS.Signals | null }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...ARGS, "--out", out, ...extra], { stdio: "ignore" });
  const dir = join(out, "checkpoints");
  let watcher: FSWatcher | null = null;
  let timer: NodeJS.Timeout | null = null;
  const kill = () => child.kill("SIGKILL");
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  const onEntry = (name: string | null) => {
    if (name === null || before.has(name)) return;
    const m = TMP_DIR.exec(name);
    if (m === null) return;
    if ("tmpStepAtLeast" in when && Number(m[1]) >= when.tmpStepAtLeast) kill();
    if ("delayMs" in when && timer === null) timer = setTimeout(kill, when.delayMs);
  };
  // checkpoints/ appears with the first checkpoint: poll for it, then watch it.
  const poll = setInterval(() => {
    if (watcher === null && existsSync(dir)) {
      watcher = watch(dir, (_event, name) => onEntry(name));
      for (const name of readdirSync(dir)) onEntry(name);
    }
  }, 2);
  return new Promise((resolve) => {
    child.on("exit", (_code, signal) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      watcher?.close();
      const leftovers = existsSync(dir) ? readdirSync(dir).filter((n) => TMP_DIR.test(n) && !before.has(n)) : [];
      resolve({ leftovers, signal });
    });
  });
}

/** Every complete checkpoint (listed with state.json) has readable tensors and state; returns the latest step. */
function checkCheckpoints(out: string): number {
  const root = join(out, "checkpoints");
  const names = listCheckpoints(root);
  assert.ok(names.length > 0, "a complete checkpoint survives the kill");
  for (const name of names) {
    const state = JSON.parse(readFileSync(join(root, name, "state.json"), "utf8"));
    assert.equal(`step-${String(state.step).padStart(6, "0")}`, name);
    assert.ok(readSafetensors(join(root, name, "trainable.safetensors"), "f32").size > 0);
    assert.ok(readSafetensors(join(root, name, "optimizer.safetensors"), "f32").size > 0);
  }
  return Number(names.at(-1)!.slice(5));
}

function losses(out: string): { step: number; loss: number; lr: number; grad_norm: number }[] {
  return readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .map(({ step, loss, lr, grad_norm }) => ({ step, loss, lr, grad_norm }));
}

test("SIGKILL during checkpoint writes: the last complete checkpoint resumes to the uninterrupted adapter", async (t) => {
  const ref = join(work, "ref");
  train(ref);
  const run = join(work, "run");
  const rng = new Rng(Number(process.env.LORATUNE_KILL_SEED ?? 5));
  let caughtMidWrite = 0;
  let kills = 0;
  const resumedFrom: number[] = [];

  // 1st kill: while the checkpoint of step 3 (or a later one, if the watcher is late) is being written.
  const k1 = await runAndKill(run, [], { tmpStepAtLeast: 3 });
  kills++;
  assert.equal(k1.signal, "SIGKILL");
  if (k1.leftovers.length > 0) caughtMidWrite++;
  const s1 = checkCheckpoints(run);
  assert.ok(s1 >= 1 && s1 < STEPS - 3, `resumable from step ${s1}`);

  // 2nd kill: resumed, then killed mid-write again at a later checkpoint.
  resumedFrom.push(s1);
  const k2 = await runAndKill(run, ["--resume", run], { tmpStepAtLeast: Math.min(s1 + 4, STEPS - 1) });
  kills++;
  assert.equal(k2.signal, "SIGKILL");
  if (k2.leftovers.length > 0) caughtMidWrite++;
  const s2 = checkCheckpoints(run);
  assert.ok(s2 > s1, `the resumed run made progress (${s1} -> ${s2})`);

  // 3rd kill: a random 0-30 ms after the resumed run starts its first checkpoint (during or after the write).
  if (s2 < STEPS - 2) {
    resumedFrom.push(s2);
    const k3 = await runAndKill(run, ["--resume", run], { delayMs: rng.nextInt(31) });
    kills++;
    if (k3.leftovers.length > 0) caughtMidWrite++;
    resumedFrom.push(checkCheckpoints(run));
  }

  const done = train(run, "--resume", run);
  assert.match(done.stdout + done.stderr, /resuming at step \d+ of 14/);
  assert.ok(
    readFileSync(join(run, "adapter_model.safetensors")).equals(readFileSync(join(ref, "adapter_model.safetensors"))),
    "the final adapter is byte-identical to the uninterrupted run's",
  );
  assert.deepEqual(
    readFileSync(join(run, "adapter_config.json"), "utf8"),
    readFileSync(join(ref, "adapter_config.json"), "utf8"),
  );
  assert.deepEqual(losses(run), losses(ref), "every step's loss, lr and gradient norm match");
  t.diagnostic(
    `${caughtMidWrite} of ${kills} kills left a torn checkpoint directory; resumed from steps ${resumedFrom}`,
  );
  // At least one kill must have landed inside a write for the test to have shown anything about torn writes.
  assert.ok(caughtMidWrite >= 1, "no kill landed during a checkpoint write");
});
