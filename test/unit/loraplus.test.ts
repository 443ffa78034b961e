/**
 * LoRA+ (--loraplus-lr-ratio, PEFT's create_loraplus_optimizer): one AdamW step with known gradients moves
 * lora_B (and the 1-D magnitude vector of DoRA) R times as far as lora_A; through the library, a DoRA + LoRA+ run
 * records both settings in config.yaml and the adapter files (inspect says DoRA), resumes to the same adapter as an uninterrupted
 * run, and refuses a resume with another ratio (the run fingerprint); --full refuses both.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isLoratuneError, type TrainEvent, type TrainOptions, train } from "../../src/index.ts";
import { inspectAdapter } from "../../src/inspect/inspect.ts";
import { readSafetensorsHeader } from "../../src/io/safetensors.ts";
import { refKernels as k } from "../../src/kernels/ref/index.ts";
import type { TrainableParam } from "../../src/tensor/trainable.ts";
import { AdamW, loraPlusLrScales } from "../../src/train/adamw.ts";
import { GOLDEN } from "../helpers/cli.ts";

const TINY = join(GOLDEN, "models", "tiny");
const DATA = join(GOLDEN, "train", "data.jsonl");
const work = mkdtempSync(join(tmpdir(), "loratune-loraplus-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("one AdamW step: lora_B and the magnitude vector move R× as far as lora_A for the same gradient", () => {
  const R = 16;
  const lr = 1e-3;
  const grad = Float32Array.from([0.5, -2, 0.25, 3e-3, -0.75, 1]);
  const param = (name: string, shape: number[]): TrainableParam => ({
    name,
    shape,
    data: Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]),
    grad: Float32Array.from(grad),
  });
  const params = [
    param("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [2, 3]),
    param("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", [3, 2]),
    param("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", [6]),
  ];
  assert.deepEqual(loraPlusLrScales(params, R), [1, R, R]);
  assert.equal(loraPlusLrScales(params, 0), null, "0 is off");
  const before = params.map((p) => Float32Array.from(p.data));
  for (const weightDecay of [0, 0.1]) {
    for (const [i, p] of params.entries()) p.data.set(before[i]!);
    const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay }, loraPlusLrScales(params, R));
    opt.update(k, lr);
    const delta = params.map((p, i) => p.data.map((v, j) => v - before[i]![j]!));
    for (let j = 0; j < grad.length; j++) {
      // The first step is −lr·(wd·p + g/(|g| + eps)) per element: B's is R times A's (decay included, as PyTorch's
      // per-group lr scales the decoupled decay too).
      const a = delta[0]![j]!;
      assert.ok(Math.abs(a + lr * (weightDecay * before[0]![j]! + Math.sign(grad[j]!))) < 1e-7, `A[${j}]`); // f32 p
      for (const i of [1, 2]) assert.ok(Math.abs(delta[i]![j]! - R * a) <= 1e-4 * Math.abs(R * a), `${i}[${j}]`);
    }
  }
});

const quiet = { onMessage: () => {} };
const run = (name: string, ratio = 8): TrainOptions => ({
  model: TINY,
  data: DATA,
  out: join(work, name),
  steps: 6,
  batchSize: 2,
  dora: true,
  loraplusLrRatio: ratio,
  ...quiet,
});

test("DoRA + LoRA+ through train(): recorded in config.yaml and PEFT files, resumes exactly, another ratio is refused", async () => {
  assert.equal((await train(run("straight"))).reason, "completed");
  const yaml = readFileSync(join(work, "straight", "config.yaml"), "utf8");
  assert.match(yaml, /^dora: true$/m);
  assert.match(yaml, /^loraplus-lr-ratio: 8$/m);
  const config = JSON.parse(readFileSync(join(work, "straight", "adapter_config.json"), "utf8"));
  assert.equal(config.use_dora, true);
  const keys = [...readSafetensorsHeader(join(work, "straight", "adapter_model.safetensors")).tensors.keys()];
  assert.ok(
    keys.some((key) => key.endsWith(".q_proj.lora_magnitude_vector")),
    keys.join(", "),
  );
  assert.equal(inspectAdapter(join(work, "straight")).use_dora, true);

  const plain = await train({ ...run("plain"), loraplusLrRatio: 0 });
  assert.equal(plain.reason, "completed");
  const adapter = (name: string) => readFileSync(join(work, name, "adapter_model.safetensors"));
  assert.ok(!adapter("plain").equals(adapter("straight")), "the ratio changes the result");

  const controller = new AbortController();
  const interrupted = await train({
    ...run("aborted"),
    signal: controller.signal,
    onEvent: (e: TrainEvent) => {
      if (e.type === "step" && e.step === 2) controller.abort();
    },
  });
  assert.equal(interrupted.reason, "interrupted");
  await assert.rejects(
    train({ ...run("aborted", 4), resume: join(work, "aborted") }),
    (e: unknown) => isLoratuneError(e) && e.code === "ERR_CHECKPOINT" && /different settings/.test(e.message),
  );
  const resumed = await train({ ...run("aborted"), resume: join(work, "aborted") });
  assert.equal(resumed.reason, "completed");
  assert.ok(adapter("aborted").equals(adapter("straight")), "interrupted + resumed = one uninterrupted run");
});

test("--full refuses --dora and --loraplus-lr-ratio", async () => {
  for (const extra of [{ dora: true }, { loraplusLrRatio: 4 }]) {
    await assert.rejects(
      train({ model: TINY, data: DATA, out: join(work, "full"), steps: 1, full: true, ...extra, ...quiet }),
      (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && /trains no adapter/.test(e.message),
    );
  }
});
