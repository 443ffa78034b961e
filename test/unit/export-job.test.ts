/**
 * loratune export-job (src/api/export-job.ts and job-*.ts): the axolotl config and the TRL script's SFTConfig and
 * LoraConfig are checked key by key against each engine's documented schema (fixtures derived from their config
 * models, test/fixtures/engine-schemas/, which say the source and version), with the right type; so are the
 * accelerate configs and the DeepSpeed JSON (accelerate.json); --layers is refused where PEFT refuses
 * layers_to_transform (a string target_modules); the values keep
 * loratune's meaning; the data is converted (JSONL and Parquet alike); the TRL script compiles (python3 -m
 * py_compile, when python3 exists); the output is guarded as other outputs are; unportable runs are refused.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { exportJob } from "../../src/api/export-job.ts";
import { launchFiles } from "../../src/api/job-launch.ts";
import { JOB_OPTION_USE, readJobSettings } from "../../src/api/job-settings.ts";
import { trlLoraConfig, trlSftConfig } from "../../src/api/job-trl.ts";
import { writeRunConfig } from "../../src/api/run-config.ts";
import { TRAIN_OPTIONS } from "../../src/api/train-options.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { DEMO_MODEL_DIR } from "../../src/model/load.ts";
import { ROOT } from "../helpers/cli.ts";
import { writeParquet } from "../helpers/parquet.ts";
import { tempDir, writeJsonl } from "./tokenizer-helpers.ts";

type TypeSpec = string | { enum: unknown[] } | { pattern: string };
type Schema = Record<string, TypeSpec[]>;
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "engine-schemas", name), "utf8")) as Record<string, Schema>;
const AXOLOTL = fixture("axolotl.json");
const TRL = fixture("trl.json");
const ACCELERATE = fixture("accelerate.json");

const { dir, cleanup } = tempDir("lt-export-job-");
after(cleanup);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Whether `v` has one of the documented types `types`. */
function hasType(v: unknown, types: TypeSpec[]): boolean {
  return types.some((t) => {
    if (typeof t !== "string") {
      return "enum" in t ? t.enum.includes(v) : typeof v === "string" && new RegExp(t.pattern).test(v);
    }
    switch (t) {
      case "int":
        return Number.isInteger(v);
      case "float":
        return typeof v === "number";
      case "bool":
        return typeof v === "boolean";
      case "str":
        return typeof v === "string";
      case "object":
        return isObject(v);
      case "list[int]":
        return Array.isArray(v) && v.every(Number.isInteger);
      case "list[str]":
        return Array.isArray(v) && v.every((x) => typeof x === "string");
      case "list[dataset]":
        return Array.isArray(v) && v.every((d) => isObject(d) && checkKeys(d, AXOLOTL.dataset_keys!, "dataset") === 0);
      case "dataset-type":
        return isObject(v) && checkKeys(v, AXOLOTL.dataset_type_keys!, "type") === 0;
      default:
        throw new Error(`unknown type ${t} in the fixture`);
    }
  });
}

/** Asserts every key of `obj` is in `schema` with a documented type; returns 0 (for use inside hasType). */
function checkKeys(obj: Record<string, unknown>, schema: Schema, where: string): number {
  for (const [key, value] of Object.entries(obj)) {
    const types = schema[key];
    assert.ok(types, `${where}: ${key} is not a documented key`);
    assert.ok(
      hasType(value, types),
      `${where}: ${key} = ${JSON.stringify(value)} is not of type ${JSON.stringify(types)}`,
    );
  }
  return 0;
}

const chat = [1, 2, 3, 4].map((i) => ({
  messages: [
    { role: "user", content: `hi ${i}` },
    { role: "assistant", content: `hello ${i}` },
  ],
}));
const alpaca = [1, 2].map((i) => ({ instruction: `add ${i}`, input: "", output: `${i + 1}` }));
const pc = [1, 2].map((i) => ({ prompt: `p${i}`, completion: ` c${i}` }));
const text = [{ text: "plain text" }];
const tokens = [{ input_ids: [1, 2, 3], labels: [-100, 2, 3] }];

/** A run directory as train leaves it: config.yaml (and the chat template it trained with). */
function makeRun(name: string, settings: Record<string, unknown>, template = false): string {
  const run = join(dir, name);
  mkdirSync(run, { recursive: true });
  writeRunConfig(run, { model: DEMO_MODEL_DIR, out: run, ...settings } as never);
  if (template) writeFileSync(join(run, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
  return run;
}

const chatFile = writeJsonl(dir, "chat.jsonl", chat);
const valFile = writeJsonl(dir, "val.jsonl", chat.slice(0, 2));
const RUNS = {
  chat: () =>
    makeRun(
      "run-chat",
      {
        data: chatFile,
        val: valFile,
        rank: 16,
        alpha: 32,
        targets: "all-linear",
        rslora: true,
        "lr-schedule": "cosine",
        "warmup-steps": 3,
        pack: true,
        "eval-every": 5,
        "save-every": 10,
        steps: 40,
        "batch-size": 2,
        "grad-accum": 4,
        "seq-len": 256,
        dtype: "bf16",
        seed: 7,
      },
      true,
    ),
  mixed: () =>
    makeRun("run-mixed", {
      data: [
        writeJsonl(dir, "alpaca.jsonl", alpaca),
        writeJsonl(dir, "pc.jsonl", pc),
        writeJsonl(dir, "text.jsonl", text),
      ].join(","),
      "val-split": 0.25,
      targets: "q_proj,v_proj",
      dora: true,
      init: "gaussian",
      layers: "0,1",
      "lr-schedule": "constant",
      "warmup-steps": 2,
      steps: 0,
      epochs: 2,
      "train-on-prompt": true,
      "loraplus-lr-ratio": 16,
      "early-stopping": 2,
      quantize: "q4_k",
    }),
  tokens: () => makeRun("run-tokens", { data: writeJsonl(dir, "tokens.jsonl", tokens), targets: "re:.*_proj" }),
};

test("the axolotl config: every key documented, of its documented type, with loratune's meaning", async () => {
  for (const [name, make] of Object.entries(RUNS)) {
    const run = make();
    const out = join(dir, `job-ax-${name}`);
    await exportJob({ run, engine: "axolotl", out });
    const text = readFileSync(join(out, "axolotl.yaml"), "utf8");
    assert.doesNotMatch(text, /:\s-?\d+e[-+]?\d+$/m, "exponents carry a decimal point (PyYAML reads 1e-8 as a string)");
    const config = parseYaml(text) as Record<string, unknown>;
    checkKeys(config, AXOLOTL.keys!, `${name} axolotl.yaml`);
    for (const d of config.datasets as { path: string }[]) assert.ok(existsSync(join(out, d.path)), d.path);
    assert.ok(existsSync(join(out, "README.md")) && existsSync(join(out, "deepspeed_zero2.json")));
  }
  const c = parseYaml(readFileSync(join(dir, "job-ax-chat", "axolotl.yaml"), "utf8")) as Record<string, unknown>;
  assert.equal(c.lora_target_linear, true);
  assert.equal(c.peft_use_rslora, true);
  assert.deepEqual([c.lora_r, c.lora_alpha, c.micro_batch_size, c.gradient_accumulation_steps], [16, 32, 2, 4]);
  assert.deepEqual(
    [c.sequence_len, c.sample_packing, c.max_steps, c.seed, c.eval_steps, c.save_steps],
    [256, true, 40, 7, 5, 10],
  );
  assert.deepEqual([c.lr_scheduler, c.warmup_steps, c.bf16, c.train_on_inputs], ["cosine", 3, true, false]);
  assert.deepEqual([c.chat_template, c.chat_template_jinja], ["jinja", "chat_template.jinja"]);
  assert.equal((c.datasets as Record<string, unknown>[])[0]!.type, "chat_template");
  assert.deepEqual((c.datasets as Record<string, unknown>[])[0]!.roles_to_train, ["assistant"]);
  assert.equal((c.test_datasets as unknown[]).length, 1);
  const m = parseYaml(readFileSync(join(dir, "job-ax-mixed", "axolotl.yaml"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(m.lora_target_modules, ["q_proj", "v_proj"]);
  assert.deepEqual(
    [m.lr_scheduler, m.num_epochs, m.val_set_size, m.train_on_inputs],
    ["constant_with_warmup", 2, 0.25, true],
  );
  assert.deepEqual([m.peft_use_dora, m.peft_init_lora_weights, m.peft_layers_to_transform], [true, "gaussian", [0, 1]]);
  assert.deepEqual(
    (m.datasets as { type: unknown }[]).map((d) => d.type),
    [
      "alpaca",
      {
        field_instruction: "prompt",
        field_output: "completion",
        format: "{instruction}",
        no_input_format: "{instruction}",
      },
      "completion",
    ],
  );
  const readme = readFileSync(join(dir, "job-ax-mixed", "README.md"), "utf8");
  assert.match(readme, /--quantize q4_k: not kept/);
  assert.match(readme, /--val-split 0.25: the engine draws its own/);
  assert.match(readme, /accelerate launch --config_file accelerate_deepspeed\.yaml/);
  assert.match(readme, /accelerate launch --config_file accelerate_fsdp\.yaml/);
});

test("the TRL script: SFTConfig and LoraConfig keys documented and typed; it compiles", async (t) => {
  const run = RUNS.chat();
  const out = join(dir, "job-trl-chat");
  await exportJob({ run, engine: "trl", out });
  const s = readJobSettings(run, undefined);
  const lora = trlLoraConfig(s);
  const sft = trlSftConfig(s, [{ path: "x", shape: "messages", written: "messages", source: "x", rows: 1 }], true);
  checkKeys(lora, TRL.LoraConfig!, "LoraConfig");
  checkKeys(sft, TRL.SFTConfig!, "SFTConfig");
  assert.deepEqual([lora.r, lora.lora_alpha, lora.target_modules, lora.use_rslora], [16, 32, "all-linear", true]);
  for (const init of ["pissa_niter_4", "olora", "gaussian"]) {
    checkKeys(trlLoraConfig({ ...s, init }), TRL.LoraConfig!, `LoraConfig init ${init}`);
  }
  assert.equal(trlLoraConfig(s).init_lora_weights, true, "kaiming is PEFT's default init (True)");
  assert.deepEqual([sft.max_length, sft.packing, sft.assistant_only_loss, sft.eval_steps], [256, true, true, 5]);
  const script = readFileSync(join(out, "train.py"), "utf8");
  for (const key of [...Object.keys(lora), ...Object.keys(sft)])
    assert.match(script, new RegExp(`^    ${key}=`, "m"), key);
  const mixedTrl = exportJob({ run: RUNS.mixed(), engine: "trl", out: join(dir, "job-trl-mixed") });
  await assert.rejects(mixedTrl, (e) => isLoratuneError(e) && /different row formats/.test(e.message));
  const python = spawnSync("python3", ["--version"]);
  if (python.error || python.status !== 0) {
    t.skip("python3 is not installed: the script's compile check needs it");
    return;
  }
  const compiled = spawnSync("python3", ["-m", "py_compile", join(out, "train.py")], { encoding: "utf8" });
  assert.equal(compiled.status, 0, compiled.stderr);
});

test("the launch files: accelerate configs and the DeepSpeed JSON use only documented keys and values", () => {
  for (const bf16 of [true, false]) {
    const files = launchFiles(bf16);
    for (const name of ["accelerate_multi_gpu.yaml", "accelerate_deepspeed.yaml", "accelerate_fsdp.yaml"]) {
      const config = parseYaml(files[name]!) as Record<string, unknown>;
      checkKeys(config, ACCELERATE.ClusterConfig!, name);
      if (config.deepspeed_config) checkKeys(config.deepspeed_config as never, ACCELERATE.deepspeed_config!, name);
      if (config.fsdp_config) checkKeys(config.fsdp_config as never, ACCELERATE.fsdp_config!, name);
      assert.equal(config.mixed_precision, bf16 ? "bf16" : "no");
    }
    const ds = JSON.parse(files["deepspeed_zero2.json"]!) as Record<string, Record<string, unknown>>;
    checkKeys(ds, ACCELERATE.deepspeed_json!, "deepspeed_zero2.json");
    checkKeys(ds.zero_optimization!, ACCELERATE.zero_optimization!, "zero_optimization");
    checkKeys(ds.bf16!, ACCELERATE.bf16!, "bf16");
    // accelerate's mixed_precision beside a deepspeed_config_file needs the JSON's precision to be "auto".
    assert.equal(ds.bf16!.enabled, "auto");
  }
});

test("--layers with targets PEFT takes as one string is refused where PEFT would refuse it", async () => {
  const cases: [Record<string, unknown>, "axolotl" | "trl", RegExp | null][] = [
    [{ targets: "re:.*_proj", layers: "0" }, "axolotl", /layers with (--)?targets re:\.\*_proj/],
    [{ targets: "re:.*_proj", layers: "0" }, "trl", /layers with (--)?targets re:/],
    [{ targets: "all-linear", layers: "0" }, "trl", /targets all-linear.*(--)?engine axolotl/],
    [{ targets: "all-linear", layers: "0" }, "axolotl", null],
  ];
  for (const [i, [settings, engine, message]] of cases.entries()) {
    const run = makeRun(`run-layers-${i}`, { data: chatFile, ...settings });
    const out = join(dir, `job-layers-${i}`);
    if (message === null) {
      await exportJob({ run, engine, out });
      const c = parseYaml(readFileSync(join(out, "axolotl.yaml"), "utf8")) as Record<string, unknown>;
      assert.deepEqual([c.lora_target_linear, c.peft_layers_to_transform], [true, [0]]);
    } else {
      await assert.rejects(exportJob({ run, engine, out }), (e) => isLoratuneError(e) && message.test(e.message));
      assert.ok(!existsSync(out), "nothing written");
    }
  }
});

test("Parquet data and dataset folders are converted to the same JSONL rows", async () => {
  const folder = join(dir, "hub-data");
  mkdirSync(join(folder, "data"), { recursive: true });
  writeParquet(
    join(folder, "data", "train-00000-of-00001.parquet"),
    chat,
    { messages: { structList: ["role", "content"] } },
    "ZSTD",
  );
  writeParquet(join(folder, "data", "validation-00000-of-00001.parquet"), chat.slice(0, 2), {
    messages: { structList: ["role", "content"] },
  });
  const run = makeRun("run-parquet", { data: folder });
  const r = await exportJob({ run, engine: "trl", out: join(dir, "job-parquet") });
  assert.deepEqual([r.train.length, r.val.length, r.train[0]!.rows], [1, 1, chat.length]);
  const rows = readFileSync(join(dir, "job-parquet", "data", "train-0.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(rows, chat);
});

test("the output is guarded: --overwrite replaces only an export-job folder; unportable runs are refused", async () => {
  const run = RUNS.tokens();
  const out = join(dir, "job-guard");
  await exportJob({ run, engine: "axolotl", out });
  await assert.rejects(
    exportJob({ run, engine: "axolotl", out }),
    (e) => isLoratuneError(e) && /already exists and is not empty/.test(e.message),
  );
  await exportJob({ run, engine: "trl", out, overwrite: true });
  assert.ok(existsSync(join(out, "train.py")) && !existsSync(join(out, "axolotl.yaml")), "replaced whole");
  const mine = join(dir, "not-loratune");
  mkdirSync(mine);
  writeFileSync(join(mine, "notes.txt"), "mine");
  await assert.rejects(exportJob({ run, engine: "trl", out: mine, overwrite: true }), (e) => isLoratuneError(e));
  assert.equal(readFileSync(join(mine, "notes.txt"), "utf8"), "mine");
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ full: true }, /--full/],
    [{ method: "dpo" }, /--method dpo/],
    [{ model: join(dir, "base.gguf") }, /GGUF base/],
    [{ "add-tokens": "<|tool|>" }, /--add-tokens/],
    [{ "modules-to-save": "lm_head" }, /--modules-to-save/],
    [{ "rank-pattern": "q_proj=4" }, /--rank-pattern/],
  ];
  for (const [settings, message] of refused) {
    const bad = makeRun(`run-bad-${Object.keys(settings)[0]}`, { data: chatFile, ...settings });
    await assert.rejects(
      exportJob({ run: bad, engine: "axolotl", out: join(dir, "x") }),
      (e) => isLoratuneError(e) && message.test(e.message),
    );
  }
  await assert.rejects(
    exportJob({ engine: "trl", out: join(dir, "y") }),
    (e) => isLoratuneError(e) && /give (--)?run DIR/.test(e.message),
  );
});

test("--config exports train settings: defaults as train fills them (the family's targets)", async () => {
  const cfg = join(dir, "train.yaml");
  writeFileSync(cfg, `model: demo\ndata: ${chatFile}\nrank: 4\nalpha: 8\nsteps: 10\n`);
  await exportJob({ config: cfg, engine: "axolotl", out: join(dir, "job-config") });
  const c = parseYaml(readFileSync(join(dir, "job-config", "axolotl.yaml"), "utf8")) as Record<string, unknown>;
  checkKeys(c, AXOLOTL.keys!, "config axolotl.yaml");
  assert.deepEqual([c.lora_r, c.lora_alpha, c.max_steps, c.lora_target_modules], [4, 8, 10, ["q_proj", "v_proj"]]);
  assert.equal(c.chat_template, undefined, "no template given: the tokenizer's own");
});

test("every train option has a stated use in export-job (mapped, local, preference-only or refused)", () => {
  const placed = Object.values(JOB_OPTION_USE).flat() as string[];
  for (const option of TRAIN_OPTIONS) {
    assert.ok(placed.includes(option.key), `train option --${option.key} is not placed in JOB_OPTION_USE`);
  }
  assert.equal(new Set(placed).size, placed.length, "an option is placed twice");
});
