/**
 * LoRA initialised from the base weight (lora/weight-init.ts) beyond the PyTorch goldens: pissa_niter_N is the
 * residual invariant W_res + s·B·A = W, repeats with its seed and approaches the exact SVD's (minimal) residual as
 * N grows; a bf16 base holds its residual; the conversion's config keeps the scale (rsLoRA included) and doubles
 * the patterns; and the refusals: a quantized base, a rank above min(out, in), DoRA, an adapter file saved
 * unconverted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { getKernels } from "../../src/kernels/index.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig, type InitLoraWeights, moduleRankAndScale } from "../../src/lora/config.ts";
import { parseLoraConfig } from "../../src/lora/methods/lora.ts";
import { convertedConfig } from "../../src/lora/weight-init.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import type { StorageDType } from "../../src/tensor/formats/index.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { GOLDEN } from "../golden/golden-helpers.ts";

const TINY = join(GOLDEN, "models", "tiny");
const Q0 = "model.layers.0.self_attn.q_proj";

function weightOf(model: Model, name: string): Float32Array {
  const lin = model.linears.find((l) => l.name === name)!;
  const n = lin.outFeatures * lin.inFeatures;
  const w = new Float32Array(n);
  getKernels().weightToF32(w, lin.weight.data, lin.weight.dtype, n);
  return w;
}

function init(initLoraWeights: InitLoraWeights, seed = 3, dtype: StorageDType = "f32") {
  const model = loadModel(TINY, { dtype });
  const rng = new Rng(seed);
  const config = defaultLoraConfig({ targetModules: ["q_proj"], initLoraWeights });
  attachLora(model, config, () => rng.next());
  const [A, B] = loraParams(model).filter((p) => p.name.includes(`${Q0}.`));
  return { model, A: A!.data, B: B!.data, residual: weightOf(model, Q0) };
}

const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

test("pissa_niter_N: W_res + s·B·A = W, the same with the same seed, residual shrinking to the exact SVD's", () => {
  const W = weightOf(loadModel(TINY), Q0);
  const residualNorms: number[] = [];
  for (const n of [1, 4, 16]) {
    const { A, B, residual } = init(`pissa_niter_${n}`);
    const again = init(`pissa_niter_${n}`);
    assert.deepEqual(again.A, A);
    assert.deepEqual(again.B, B);
    assert.notDeepEqual(init(`pissa_niter_${n}`, 4).A, A, "another seed draws another test matrix");
    for (let i = 0; i < 64; i++) {
      for (let j = 0; j < 64; j++) {
        let ba = 0;
        for (let t = 0; t < 8; t++) ba += B[i * 8 + t]! * A[t * 64 + j]!;
        assert.ok(Math.abs(residual[i * 64 + j]! + 2 * ba - W[i * 64 + j]!) < 1e-6, `[${i}, ${j}]`);
      }
    }
    residualNorms.push(norm(residual));
  }
  const exact = norm(init("pissa").residual);
  assert.ok(
    exact < residualNorms[2]! && residualNorms[2]! < residualNorms[1]! && residualNorms[1]! < residualNorms[0]!,
  );
  assert.ok(residualNorms[2]! < 1.005 * exact, `niter 16: ${residualNorms[2]} vs exact ${exact}`);
});

test("a bf16 base holds the residual in bf16: W_res + s·B·A = W within the rounding of W_res to bf16", () => {
  const W = weightOf(loadModel(TINY, { dtype: "bf16" }), Q0);
  const { A, B, residual } = init("olora", 3, "bf16");
  for (let i = 0; i < 64 * 64; i++) {
    let ba = 0;
    for (let t = 0; t < 8; t++) ba += B[Math.floor(i / 64) * 8 + t]! * A[t * 64 + (i % 64)]!;
    const err = Math.abs(residual[i]! + 2 * ba - W[i]!);
    assert.ok(err <= 2 ** -8 * Math.abs(residual[i]!) + 1e-6, `[${i}]: ${err} for a residual ${residual[i]}`);
  }
});

test("the converted config keeps every module's scale: alpha x 2 (rsLoRA: x √2), patterns doubled alike", () => {
  for (const useRslora of [false, true]) {
    const c = defaultLoraConfig({
      r: 4,
      loraAlpha: 8,
      useRslora,
      rankPattern: { v_proj: 2 },
      alphaPattern: { v_proj: 6 },
      initLoraWeights: "olora",
    });
    const conv = convertedConfig(c);
    assert.equal(conv.initLoraWeights, true);
    for (const name of [Q0, "model.layers.0.self_attn.v_proj"]) {
      const before = moduleRankAndScale(c, name);
      const after = moduleRankAndScale(conv, name);
      assert.equal(after.r, 2 * before.r);
      assert.ok(Math.abs(after.scale - before.scale) < 1e-12, `${name} rslora ${useRslora}`);
    }
  }
});

test("refused: a quantized base, a rank above min(out, in), DoRA, and an adapter file saved unconverted", () => {
  const refuses = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => isLoratuneError(e) && re.test(e.message));
  const quantized = loadModel(TINY, { quantize: "q8_0" });
  refuses(
    () => attachLora(quantized, defaultLoraConfig({ initLoraWeights: "pissa" }), () => 0.5),
    /q_proj's weight by a residual, which a quantized weight \(q8_0\) cannot hold exactly/,
  );
  const model = loadModel(TINY);
  const before = weightOf(model, "model.layers.0.self_attn.v_proj");
  refuses(
    () => attachLora(model, defaultLoraConfig({ r: 40, initLoraWeights: "olora" }), () => 0.5),
    /rank 40 exceeds min\(out, in\) = 32 of model\.layers\.0\.self_attn\.v_proj \[32, 64\]/,
  );
  assert.deepEqual(weightOf(model, "model.layers.0.self_attn.v_proj"), before, "nothing changed before the refusal");
  refuses(() => defaultLoraConfig({ method: "dora", initLoraWeights: "pissa" }), /"pissa" with DoRA is not supported/);
  for (const value of ["pissa", "pissa_niter_4", "olora"]) {
    const raw = { peft_type: "LORA", r: 8, lora_alpha: 16, target_modules: ["q_proj"], init_lora_weights: value };
    refuses(
      () => parseLoraConfig(raw, "x/adapter_config.json"),
      /x\/adapter_config\.json: init_lora_weights is .*saved without conversion/,
    );
  }
});

test('"gaussian" (PEFT\'s): A ~ N(0, 1/r), B = 0, the base weight untouched', () => {
  const W = weightOf(loadModel(TINY), Q0);
  const { A, B, residual } = init("gaussian");
  assert.deepEqual(residual, W);
  assert.ok(B.every((x) => x === 0));
  const mean = A.reduce((s, x) => s + x, 0) / A.length;
  const std = Math.sqrt(A.reduce((s, x) => s + (x - mean) ** 2, 0) / A.length);
  assert.ok(Math.abs(mean) < 0.02 && Math.abs(std - 1 / 8) < 0.1 / 8, `mean ${mean}, std ${std} (want 0, 0.125)`);
});
