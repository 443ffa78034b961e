/**
 * Issue 11, "run directories you can trust", from the command line: chat templates travel with a run to eval
 * and generate, `inspect` describes models, adapters and runs (with or without loratune.json), user mistakes
 * are one-line usage errors, and the kernel backend is checked and its absence said once.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { main } from "../../src/cli/main.ts";
import { BIN, GOLDEN, ROOT } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "loratune-trust-"));
after(() => rmSync(work, { recursive: true, force: true }));

const TINY = join(GOLDEN, "models", "tiny");
const DEMO = join(ROOT, "models", "demo");

/** Runs `loratune ...args` with extra environment variables (LORATUNE_* from the outer environment dropped). */
function run(env: Record<string, string>, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LORATUNE_")));
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...base, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lt = (...args: string[]) => run({}, ...args);
const ok = (...args: string[]) => {
  const r = lt(...args);
  assert.equal(r.code, 0, `loratune ${args.join(" ")}:\n${r.stderr}`);
  return r;
};

/** A copy of the demo model without any chat template (tokenizer kept). */
const model = join(work, "model");
cpSync(DEMO, model, { recursive: true });
rmSync(join(model, "chat_template.jinja"));
rmSync(join(model, "pretraining"), { recursive: true, force: true });
const tc = JSON.parse(readFileSync(join(model, "tokenizer_config.json"), "utf8"));
delete tc.chat_template;
writeFileSync(join(model, "tokenizer_config.json"), JSON.stringify(tc));

const messages = join(work, "messages.jsonl");
writeFileSync(
  messages,
  Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `What is ${i} plus ${i}?` },
        { role: "assistant", content: `It is ${2 * i}.` },
      ],
    }),
  ).join("\n"),
);
const template = join(work, "chat.jinja");
writeFileSync(
  template,
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
);
const longer = join(work, "longer.jinja");
writeFileSync(
  longer,
  `{{ 'You are a careful assistant who answers in one sentence.\\n' }}${readFileSync(template, "utf8")}`,
);
const runDir = join(work, "run");

test("a run trained with --chat-template keeps it: eval and generate --chat with --adapter use it", () => {
  ok(
    ...["train", "--model", model, "--data", messages, "--chat-template", template, "--out", runDir],
    ...["--steps", "2", "--batch-size", "4", "--seq-len", "64", "--val-split", "0.2", "--eval-every", "1"],
  );
  assert.equal(readFileSync(join(runDir, "chat_template.jinja"), "utf8"), readFileSync(template, "utf8"));

  const noTemplate = lt("eval", "--model", model, "--data", messages);
  assert.equal(noTemplate.code, 1);
  assert.match(noTemplate.stderr, /^loratune: .*messages\.jsonl: .*no chat template; pass --chat-template FILE.*\n$/);

  const e = ok("eval", "--model", model, "--adapter", runDir, "--data", messages, "--json");
  const result = JSON.parse(e.stdout);
  assert.deepEqual(Object.keys(result), ["loss", "perplexity", "tokens"]);
  assert.ok(result.tokens > 0 && Number.isFinite(result.loss));
  assert.doesNotMatch(e.stderr, /eval: /, "no progress lines with --json off a terminal");
  // --chat-template works without an adapter too, and gives the same loss as the run's kept template.
  const explicit = JSON.parse(
    ok("eval", "--model", model, "--data", messages, "--chat-template", template, "--json").stdout,
  );
  assert.equal(explicit.tokens, result.tokens);

  const chatNo = lt("generate", "--model", model, "--prompt", "hi", "--chat");
  assert.equal(chatNo.code, 2);
  assert.match(chatNo.stderr, /^loratune: --chat: .* has no chat template .*; pass --chat-template FILE\n$/);
  const gen = (...extra: string[]) =>
    JSON.parse(
      ok("generate", "--model", model, "--prompt", "hi", "--chat", "--max-tokens", "2", "--json", ...extra).stdout,
    );
  const kept = gen("--adapter", runDir);
  assert.deepEqual(Object.keys(kept), ["ids", "text", "prompt_tokens", "stopped_by"]);
  assert.equal(kept.prompt_tokens, gen("--chat-template", template).prompt_tokens);
  // An explicit --chat-template wins over the run's.
  assert.ok(gen("--adapter", runDir, "--chat-template", longer).prompt_tokens > kept.prompt_tokens + 5);
  // A model merged from the run keeps the run's template, so it can chat too.
  const merged = join(work, "merged-chat");
  ok("merge", "--model", model, "--adapter", runDir, "--out", merged);
  assert.equal(readFileSync(join(merged, "chat_template.jinja"), "utf8"), readFileSync(template, "utf8"));
  const m = JSON.parse(
    ok("generate", "--model", merged, "--prompt", "hi", "--chat", "--max-tokens", "2", "--json").stdout,
  );
  assert.equal(m.prompt_tokens, kept.prompt_tokens);
});

/** Every key of a JSON value, recursively. */
function keys(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(keys);
  if (v === null || typeof v !== "object") return [];
  return Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)]);
}
const snake = (v: unknown) => {
  const bad = keys(v).filter((k) => !/^[a-z0-9_]+$/.test(k));
  assert.deepEqual(bad, [], `keys not in snake_case: ${bad.join(", ")}`);
};

test("inspect describes a model, an adapter and a run (also one without loratune.json), as text and --json", () => {
  const m = JSON.parse(ok("inspect", "demo", "--json").stdout);
  snake(m);
  assert.equal(m.kind, "model");
  assert.equal(m.model_type, "llama");
  assert.equal(m.parameters, 3_213_568);
  assert.deepEqual(m.dtype, ["BF16"]);
  assert.deepEqual(
    [m.vocab_size, m.layers, m.hidden_size, m.intermediate_size, m.attention_heads, m.key_value_heads, m.head_dim],
    [1024, 4, 256, 704, 4, 2, 64],
  );
  assert.equal(m.tied_embeddings, true);
  assert.equal(m.chat_template, true);
  assert.equal(JSON.parse(ok("inspect", model, "--json").stdout).chat_template, false);
  const text = ok("inspect", "demo").stdout;
  assert.match(text, /^model +.*models\/demo \(llama, LlamaForCausalLM\)$/m);
  assert.match(text, /^parameters +3\.21M \(3,213,568\), BF16$/m);
  assert.match(text, /^embeddings +tied/m);

  const a = JSON.parse(ok("inspect", join(GOLDEN, "parity", "tiny-rslora", "adapter"), "--json").stdout);
  assert.equal(a.kind, "adapter");
  assert.equal(a.use_rslora, true);
  assert.equal(a.scale, a.lora_alpha / Math.sqrt(a.r));
  assert.ok(a.trainable_params > 0 && a.adapted_modules > 0);

  const r = JSON.parse(ok("inspect", runDir, "--json").stdout);
  snake(r);
  assert.equal(r.kind, "run");
  assert.equal(r.status, "completed");
  assert.equal(r.marker, true);
  assert.equal(r.steps_done, 2);
  assert.equal(r.total_steps, 2);
  assert.ok(typeof r.best_val_loss === "number" && [1, 2].includes(r.best_val_step), JSON.stringify(r));
  assert.equal(r.adapter.r, 8);
  assert.deepEqual(r.adapter.target_modules, ["q_proj", "v_proj"]);
  assert.equal(r.adapter.trainable_params, 4 * (8 * 256 + 256 * 8 + 8 * 256 + 128 * 8)); // q and v in 4 layers
  assert.equal(r.settings.seq_len, 64);
  assert.equal(r.chat_template, true);
  const runText = ok("inspect", runDir).stdout;
  assert.match(runText, /^status +completed$/m);
  assert.match(runText, /^steps +2 of 2$/m);
  assert.match(runText, /^best val loss +\d+\.\d{4} at step [12]$/m);
  assert.match(runText, /^settings \(config\.yaml\)$/m);

  // A run written before runs were marked: status unknown, the rest from metrics.jsonl and config.yaml.
  const old = join(work, "old-run");
  cpSync(runDir, old, { recursive: true });
  rmSync(join(old, "loratune.json"));
  const o = JSON.parse(ok("inspect", old, "--json").stdout);
  assert.equal(o.kind, "run");
  assert.equal(o.status, "unknown");
  assert.equal(o.marker, false);
  assert.equal(o.steps_done, 2);
  assert.equal(o.total_steps, 2);
  assert.equal(o.best_val_loss, r.best_val_loss);
  assert.match(ok("inspect", old).stdout, /^status +unknown \(no loratune\.json/m);

  const empty = join(work, "empty");
  mkdirSync(empty);
  for (const [path, code, re] of [
    [empty, 2, /not a model, adapter or run directory/],
    [messages, 2, /is a file; inspect takes a model, adapter or run directory/],
    [join(work, "nope"), 1, /no such file or directory/],
  ] as const) {
    const bad = lt("inspect", path);
    assert.equal(bad.code, code, bad.stderr);
    assert.match(bad.stderr, /^loratune: [^\n]*\n$/);
    assert.match(bad.stderr, re);
  }
  assert.match(ok("inspect", "--system").stdout, /^backend +(native|ref)$/m);
  assert.ok("backend" in JSON.parse(ok("inspect", "--system", "--json").stdout));
});

/** Runs the CLI in this process (fast, for errors found before any work) and returns its exit code and stderr. */
async function inProcess(...args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...parts: unknown[]) => lines.push(`${parts.join(" ")}\n`);
  try {
    const code = await main(["node", "loratune", ...args]);
    return { code, stderr: lines.join("") };
  } finally {
    console.error = original;
  }
}

test("user mistakes in generate and eval are one-line usage errors, never 'unexpected error'", async () => {
  const cases: [string[], RegExp][] = [
    [["generate", "--model", TINY, "--prompt", ""], /--prompt: the prompt is empty/],
    [
      ["generate", "--model", TINY, "--prompt-ids", "1,99999"],
      /token id 99999 is outside the model's vocabulary \(ids 0 to 511\)/,
    ],
    [["generate", "--model", TINY, "--prompt", "a", "--prompt-ids", "1"], /not both/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--top-p", "0"], /--top-p: expected a number in \(0, 1\]/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--top-p", "1.5"], /--top-p: expected a number in \(0, 1\]/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--temperature", "-1"], /--temperature: expected a number ≥ 0/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--top-k", "-1"], /--top-k: expected an integer ≥ 0/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--max-tokens", "0"], /--max-tokens: expected an integer ≥ 1/],
    [["generate", "--model", TINY, "--prompt-ids", "1", "--repetition-penalty", "0"], /expected a number > 0/],
    [
      ["generate", "--model", TINY, "--prompt-ids", "1", "--dtype", "q8_0"],
      /--dtype: expected one of f32, bf16 or f16, got "q8_0"/,
    ],
    [["generate", "--model", TINY, "--prompt", "hello"], /has no tokenizer\.json.*pass --prompt-ids/],
    [["generate", "--model", TINY], /give a prompt/],
    [["generate", "--model", TINY, "--adapter", TINY, "--prompt-ids", "1"], /holds a whole model .*pass it as --model/],
    [["generate", "--prompt", "x"], /missing required option --model <dir>/],
    [["eval", "--model", TINY, "--data", messages, "--batch-size", "0"], /--batch-size: expected an integer ≥ 1/],
    [["eval"], /eval: missing required options --model <dir> and --data <file>;/],
  ];
  for (const [args, re] of cases) {
    const r = await inProcess(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^loratune: [^\n]*\n$/, args.join(" "));
    assert.match(r.stderr, re, args.join(" "));
  }
  // Conversations on a model without tokenizer.json: the advice is pre-tokenized rows, which work.
  const noTok = lt("eval", "--model", TINY, "--data", messages);
  assert.equal(noTok.code, 1);
  assert.match(noTok.stderr, /input_ids/);
  assert.doesNotMatch(noTok.stderr, /unexpected error|--chat-template/);
});

test("LORATUNE_BACKEND is checked by every computing command; missing native kernels are said once", () => {
  const out = join(work, "never");
  const computing: string[][] = [
    ["train", "--model", TINY, "--data", messages, "--out", out, "--steps", "1"],
    ["eval", "--model", TINY, "--data", messages],
    ["generate", "--model", TINY, "--prompt-ids", "1"],
    ["merge", "--model", TINY, "--adapter", runDir, "--out", out],
    ["bench", "--quick", "--no-torch", "--workloads", "train", "--steps", "1", "--warmup", "0"],
    ["demo", "--steps", "1", "--out", out],
  ];
  for (const args of computing) {
    const r = run({ LORATUNE_BACKEND: "gpu" }, ...args);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      'loratune: LORATUNE_BACKEND must be ref, native or webgpu (or unset to use native when it is built), got "gpu"\n',
    );
  }

  const gen = ["generate", "--model", TINY, "--prompt-ids", "1,2", "--max-tokens", "2", "--json"];
  const missing = run({ LORATUNE_TEST_NATIVE_MISSING: "1" }, ...gen);
  assert.equal(missing.code, 0, missing.stderr);
  const warnings = missing.stderr.split("\n").filter((l) => l.includes("native kernels unavailable"));
  assert.equal(warnings.length, 1, missing.stderr);
  assert.match(
    warnings[0]!,
    /^loratune: warning: .*10 to 100 times slower.*'npm run build:native' \(needs a C\+\+ toolchain/,
  );
  assert.deepEqual(JSON.parse(missing.stdout).ids.length, 2);
  const evalMissing = run(
    { LORATUNE_TEST_NATIVE_MISSING: "1" },
    "eval",
    "--model",
    TINY,
    "--data",
    join(GOLDEN, "train", "data.jsonl"),
  );
  assert.equal(evalMissing.code, 0, evalMissing.stderr);
  assert.match(evalMissing.stderr, /warning: native kernels unavailable/);
  // Forcing the reference kernels on purpose is not warned about.
  const forced = run({ LORATUNE_TEST_NATIVE_MISSING: "1", LORATUNE_BACKEND: "ref" }, ...gen);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(forced.stderr, "");
  // inspect --system reports it in its output, not as a warning.
  const sys = run({ LORATUNE_TEST_NATIVE_MISSING: "1" }, "inspect", "--system", "--json");
  assert.equal(sys.stderr, "");
  assert.match(JSON.parse(sys.stdout).notice, /native kernels unavailable/);

  const help = lt("--help");
  for (const v of ["LORATUNE_BACKEND", "LORATUNE_ISA", "LORATUNE_THREADS", "LORATUNE_SKIP_NATIVE_BUILD"]) {
    assert.ok(help.stdout.includes(v), v);
  }
});
