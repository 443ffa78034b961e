/**
 * modules_to_save's trainable parts pass finite-difference checks with LoRA beside them: the untied head and
 * embedding of a tied model (each its own copy after untying, as PEFT's wrappers make them), and a linear saved
 * whole; and the names PEFT gives a module resolve (or are refused, naming the model's modules).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import { attachLora, loraParams } from "../../src/lora/adapter.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import { checkWritableAsModel, enableModulesToSave, resolveModulesToSave } from "../../src/lora/modules-to-save.ts";
import { planAdapter } from "../../src/lora/plan.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { checkDirectional } from "../helpers/gradcheck.ts";
import { randomInput, randomModel } from "../helpers/random-model.ts";

for (const [label, modules] of [
  ["lm_head + embed_tokens on a tied model", ["lm_head", "embed_tokens"]],
  ["lm_head alone on a tied model", ["lm_head"]],
  ["a whole o_proj", ["o_proj"]],
] as const) {
  test(`modules_to_save gradients match finite differences (${label})`, () => {
    const model = randomModel({}, 3);
    assert.equal(model.lmHead, model.embed);
    const rng = new Rng(7);
    const config = defaultLoraConfig({ r: 2, loraAlpha: 4, modulesToSave: [...modules], initLoraWeights: false });
    attachLora(model, config, () => rng.next());
    const params = [...loraParams(model), ...enableModulesToSave(model, config)];
    assert.equal(
      params.length,
      loraParams(model).length + (modules[0] === "o_proj" ? model.layers.length : modules.length),
    );
    if (modules[0] !== "o_proj") assert.notEqual(model.lmHead, model.embed, "untied");
    checkDirectional(model, params, randomInput(2, 6, model.config.vocabSize, 11, 3), 5);
  });
}

test("modules_to_save names resolve as PEFT matches them; unknown or LoRA-adapted modules are refused", () => {
  const model = randomModel({}, 3);
  const adapted = attachLora(model, defaultLoraConfig({ targetModules: ["q_proj"] }), () => 0.5);
  const mods = resolveModulesToSave(model, ["embed_tokens", "lm_head", "layers.0.mlp.down_proj"], adapted);
  assert.deepEqual(
    mods.map((m) => [m.module, m.key]),
    [
      ["model.embed_tokens", "base_model.model.model.embed_tokens.weight"],
      ["model.layers.0.mlp.down_proj", "base_model.model.model.layers.0.mlp.down_proj.weight"],
      ["lm_head", "base_model.model.lm_head.weight"],
    ],
  );
  const refuses = (entries: string[], re: RegExp) =>
    assert.throws(
      () => resolveModulesToSave(model, entries, adapted),
      (e: unknown) => isLoratuneError(e) && re.test(e.message),
    );
  refuses(["wte"], /"wte" names no module of this model \(its embedding is model\.embed_tokens, its head lm_head/);
  refuses(["q_proj"], /names model\.layers\.0\.self_attn\.q_proj, which LoRA's target_modules also adapt/);
});

test("a tied model whose head modules_to_save untied is refused as a whole model (merge, export)", () => {
  const model = randomModel({}, 3);
  checkWritableAsModel(model, "merge");
  const config = defaultLoraConfig({ modulesToSave: ["lm_head"] });
  attachLora(model, config, () => 0.5);
  enableModulesToSave(model, config);
  assert.throws(
    () => checkWritableAsModel(model, "merge"),
    (e: unknown) =>
      isLoratuneError(e) && /^merge: the adapter's modules_to_save gives this tied model a head/.test(e.message),
  );
});

test("the memory plan counts the modules trained whole (a tied head as a copy of the table)", () => {
  const model = randomModel({}, 3);
  const table = model.embed.shape[0]! * model.embed.shape[1]!;
  const plain = planAdapter(defaultLoraConfig({}), model.specs).values;
  const both = planAdapter(defaultLoraConfig({ modulesToSave: ["lm_head", "embed_tokens"] }), model.specs).values;
  assert.equal(both - plain, 2 * table);
  const o = model.linears.find((l) => l.name.endsWith("o_proj"))!;
  const oProj = planAdapter(defaultLoraConfig({ modulesToSave: ["o_proj"] }), model.specs).values;
  assert.equal(oProj - plain, model.layers.length * o.inFeatures * o.outFeatures);
});
