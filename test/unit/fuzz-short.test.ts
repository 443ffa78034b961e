/**
 * A short seeded fuzz run of every file loader (the long run is `npm run fuzz`), and the inputs the fuzzer
 * found crashing, hanging or accepting garbage before they were fixed, kept as regression cases.
 * Seed: LORATUNE_FUZZ_SEED (default 20240601); cases per target: LORATUNE_FUZZ_CASES (default 60).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readDataset } from "../../src/data/dataset.ts";
import { type ErrorCode, isLoratuneError } from "../../src/errors.ts";
import { readJsonObject } from "../../src/io/json-file.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { loadAdapter } from "../../src/lora/peft-files.ts";
import { readModelConfig } from "../../src/model/config-file.ts";
import { loadModel } from "../../src/model/load.ts";
import { loadGgufTokenizer } from "../../src/tokenizer/gguf-tokenizer.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { adapterSeeds, modelSeeds, type Seed, safetensorsSeeds, tinyModel, tokenizerSeeds } from "../fuzz/corpus.ts";
import { ggufModelSeeds } from "../fuzz/gguf-corpus.ts";
import { type FuzzStats, runFuzz } from "../fuzz/harness.ts";
import { TARGETS } from "../fuzz/targets.ts";
import { chatmlTokenizer } from "./tokenizer-helpers.ts";

const SEED = Number(process.env.LORATUNE_FUZZ_SEED ?? 20240601);
const CASES = Number(process.env.LORATUNE_FUZZ_CASES ?? 60);
const work = mkdtempSync(join(tmpdir(), "lt-fuzz-short-"));
after(() => rmSync(work, { recursive: true, force: true }));

function summary(s: FuzzStats): string {
  return s.failures
    .slice(0, 10)
    .map((f) => `case ${f.index} [${f.kind}] ${f.seedName}/${f.file}: ${f.detail}`)
    .join("\n");
}

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${CASES} mutated inputs end in success or a typed error naming the file`, () => {
    // Every seed loads unchanged: otherwise the mutations would only test the first check.
    for (const seed of target.seeds()) {
      const dir = writeSeed(seed, `${target.name}-${seed.name}`);
      assert.doesNotThrow(() => target.run(dir, seed), `seed ${seed.name} must load`);
    }
    const stats = runFuzz(target, { seed: SEED, count: CASES, workDir: work, slowMs: 5000 });
    assert.equal(stats.failures.length, 0, summary(stats));
    const typed = Object.values(stats.typed).reduce((a, b) => a + b, 0);
    assert.equal(stats.ok + typed, CASES);
    assert.ok(typed >= CASES / 2, `most mutations must be refused (typed ${typed} of ${CASES})`);
  });
}

/** Writes a seed's files (some replaced) into a fresh directory under the work directory. */
function writeSeed(seed: Seed, name: string, replace: Record<string, Uint8Array | string> = {}): string {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [f, bytes] of Object.entries({ ...seed.files, ...replace })) writeFileSync(join(dir, f), bytes);
  return dir;
}

/** Runs `fn`, which must throw a LoratuneError of `code` whose message names `where` and matches `pattern`. */
function rejects(fn: () => unknown, code: ErrorCode, where: string, pattern: RegExp, maxMs = 2000): void {
  const t0 = performance.now();
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  const ms = performance.now() - t0;
  assert.ok(isLoratuneError(caught), `expected ${code}, got ${caught === null ? "success" : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.includes(where), `message must name ${where}: ${caught.message}`);
  assert.match(caught.message, pattern);
  assert.ok(ms < maxMs, `took ${ms.toFixed(0)} ms`);
}

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
const json = (text: string) => new TextEncoder().encode(text);

/** The first file of a seed whose name ends with `suffix`. */
function fileOf(seed: Seed, suffix: string): string {
  return Object.keys(seed.files).find((f) => f.endsWith(suffix))!;
}

function replaceHeader(bytes: Uint8Array, edit: (text: string) => string): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = json(edit(new TextDecoder().decode(bytes.subarray(8, 8 + n))));
  const out = new Uint8Array(8 + header.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(bytes.subarray(8 + n), 8 + header.length);
  return out;
}

test("regression: values nested 100k deep are reported, not a stack overflow", () => {
  const [model] = modelSeeds();
  const cfg = JSON.parse(new TextDecoder().decode(model!.files["config.json"]!));
  const dir = writeSeed(model!, "deep-config", {
    "config.json": JSON.stringify({ ...cfg, hidden_size: 0 }).replace("0", deep(100_000)),
  });
  rejects(() => readModelConfig(dir), "ERR_CONFIG", "config.json", /"hidden_size" must be a positive integer/);
  const theta = writeSeed(model!, "deep-theta", {
    "config.json": JSON.stringify({ ...cfg, rope_theta: 0 }).replace('"rope_theta":0', `"rope_theta":${deep(100_000)}`),
  });
  rejects(() => readModelConfig(theta), "ERR_CONFIG", "config.json", /rope_theta/);

  const [st] = safetensorsSeeds();
  const bytes = replaceHeader(st!.files[st!.main!]!, (h) =>
    h.replace(/"shape":\[[^\]]*\]/, `"shape":${deep(100_000)}`),
  );
  const stDir = writeSeed(st!, "deep-shape", { [st!.main!]: bytes });
  rejects(
    () => readSafetensors(join(stDir, st!.main!), "f32"),
    "ERR_SAFETENSORS_HEADER",
    st!.main!,
    /shape an array of 1 /,
  );

  const [adapter] = adapterSeeds();
  const acfg = JSON.parse(new TextDecoder().decode(adapter!.files["adapter_config.json"]!));
  const aDir = writeSeed(adapter!, "deep-peft", {
    "adapter_config.json": JSON.stringify({ ...acfg, peft_type: 0 }).replace(
      '"peft_type":0',
      `"peft_type":${deep(100_000)}`,
    ),
  });
  rejects(
    () => loadAdapter(aDir, tinyModel()),
    "ERR_ADAPTER_CONFIG",
    "adapter_config.json",
    /peft_type is an array of 1;/,
  );
});

test("regression: a token id of 10^9 in tokenizer.json is refused at once (it made loading take minutes)", () => {
  const [tok] = tokenizerSeeds();
  const text = new TextDecoder().decode(tok!.files["tokenizer.json"]!);
  const dir = writeSeed(tok!, "huge-id", { "tokenizer.json": text.replace(/("a": )\d+/, "$11000000000") });
  rejects(
    () => loadTokenizer(dir),
    "ERR_TOKENIZER",
    "tokenizer.json",
    /model\.vocab\["a"\] is 1000000000, not a token id/,
  );
  const added = writeSeed(tok!, "bad-added", { "tokenizer.json": text.replace(/"id": (\d+)/, '"id": -3') });
  rejects(() => loadTokenizer(added), "ERR_TOKENIZER", "tokenizer.json", /added_tokens\[0\] must be/);
  // Without "type" and "unk_token" the library's fallback model returned undefined for unknown pieces.
  const json = JSON.parse(text);
  delete json.model.type;
  delete json.model.unk_token;
  const holed = writeSeed(tok!, "untyped-model", { "tokenizer.json": JSON.stringify(json) });
  const t = loadTokenizer(holed);
  rejects(
    () => t.encode("Hello world! What"),
    "ERR_TOKENIZER",
    "tokenizer.json",
    /the piece "ĠWhat" of the text has no id/,
  );
});

test("regression: adapter_config.json ranks are checked against the weights file before allocating", () => {
  const [adapter] = adapterSeeds();
  const cfg = JSON.parse(new TextDecoder().decode(adapter!.files["adapter_config.json"]!));
  const hugeR = writeSeed(adapter!, "huge-r", { "adapter_config.json": JSON.stringify({ ...cfg, r: 1_000_000_000 }) });
  rejects(
    () => loadAdapter(hugeR, tinyModel()),
    "ERR_ADAPTER_KEYS",
    "adapter_config.json",
    /ranks it gives do not match adapter_model\.safetensors: .*\(r 1000000000 in the config, \d+ in the weights\)/,
  );
  const pattern = writeSeed(adapter!, "bad-pattern", {
    "adapter_config.json": JSON.stringify({ ...cfg, rank_pattern: { "q_proj(": 2 } }),
  });
  rejects(() => loadAdapter(pattern, tinyModel()), "ERR_ADAPTER_CONFIG", "adapter_config.json", /not a usable regular/);
  const huge = `.*\\.(k_proj|o_pro${"_pro".repeat(20_000)}j)`; // constructs, fails on its first match
  const big = writeSeed(adapter!, "big-regex", {
    "adapter_config.json": JSON.stringify({ ...cfg, target_modules: huge }),
  });
  rejects(() => loadAdapter(big, tinyModel()), "ERR_ADAPTER_CONFIG", "adapter_config.json", /not a usable regular/);
  const none = writeSeed(adapter!, "no-match", {
    "adapter_config.json": JSON.stringify({ ...cfg, target_modules: ["zz"] }),
  });
  rejects(() => loadAdapter(none, tinyModel()), "ERR_ADAPTER_CONFIG", "adapter_config.json", /matches no linear layer/);
});

test("regression: NaN in adapter weights is refused, naming the tensor", () => {
  const [adapter] = adapterSeeds();
  const weights = fileOf(adapter!, ".safetensors");
  const bytes = adapter!.files[weights]!.slice();
  bytes.set([0x00, 0x00, 0xc0, 0x7f], bytes.length - 4); // the last f32 of the data section = NaN
  const dir = writeSeed(adapter!, "nan", { [weights]: bytes });
  const model = tinyModel();
  rejects(() => loadAdapter(dir, model), "ERR_NONFINITE", weights, /tensor "base_model\.model\..*" holds NaN/);
  assert.ok(
    model.linears.every((l) => l.adapter === null),
    "a failed load leaves no LoRA attached",
  );
});

test("regression: a conversation of 2000 turns is encoded in bounded time (only turns before seqLen are located)", () => {
  const messages = [];
  for (let i = 0; i < 1000; i++) {
    messages.push({ role: "user", content: "What is two plus two?" }, { role: "assistant", content: "Four." });
  }
  const path = join(work, "long-chat.jsonl");
  writeFileSync(path, `${JSON.stringify({ messages })}\n`);
  const t0 = performance.now();
  const data = readDataset(path, chatmlTokenizer(), { seqLen: 64 });
  assert.ok(performance.now() - t0 < 3000, `took ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(data.examples[0]!.ids.length, 64);
  assert.ok(data.stats.labelTokens > 0);
});

test("regression: JSON files are size-checked before reading and must be UTF-8", () => {
  const path = join(work, "big.json");
  writeFileSync(path, `{"a": "${"x".repeat(5000)}"}`);
  rejects(() => readJsonObject(path, "ERR_CONFIG", "a JSON object", 1024), "ERR_CONFIG", path, /more than the 1024/);
  writeFileSync(path, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]));
  rejects(() => readJsonObject(path, "ERR_CONFIG"), "ERR_CONFIG", path, /not valid UTF-8/);
});

test("regression: GGUF lengths beyond the file are refused before anything of that length is allocated", () => {
  const [seed] = ggufModelSeeds();
  const bytes = seed!.files["model.gguf"]!;
  /** The seed with the u64 at `at` bytes after the end of key `key` (its type ids skipped) set to `value`. */
  const withU64 = (key: string, skip: number, value: bigint) => {
    const k = new TextEncoder().encode(key);
    const at = Buffer.from(bytes).indexOf(Buffer.from(k)) + k.length + skip;
    const out = bytes.slice();
    new DataView(out.buffer).setBigUint64(at, value, true);
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "huge-tokens",
      withU64("tokenizer.ggml.tokens", 8, 2n ** 40n),
      /the length of tokenizer\.ggml\.tokens is 1099511627776, more than the file can hold/,
    ],
    [
      "huge-template",
      withU64("tokenizer.chat_template", 4, 2n ** 62n),
      /the length of tokenizer\.chat_template is \d+, more than the file can hold/,
    ],
    [
      "huge-dim",
      withU64("token_embd.weight", 4, 2n ** 40n),
      /dimension 0 of token_embd\.weight is 1099511627776, more than the file can hold/,
    ],
  ];
  for (const [name, file, pattern] of cases) {
    const dir = writeSeed(seed!, name, { "model.gguf": file });
    rejects(() => loadModel(join(dir, "model.gguf")), "ERR_GGUF", dir, pattern, 500);
    rejects(() => loadGgufTokenizer(join(dir, "model.gguf")), "ERR_GGUF", dir, pattern, 500);
  }
});
