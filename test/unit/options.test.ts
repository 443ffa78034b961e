/**
 * One option table per command (src/api/options.ts): the CLI's flags are registered from it, and a library
 * caller passes only the required options, the rest defaulted from the same table and every given value
 * checked against the same bounds.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { camelKey, flagSpelling, withDefaults } from "../../src/api/options.ts";
import { trainRunOptions } from "../../src/api/train.ts";
import { BENCH_OPTIONS } from "../../src/cli/bench.ts";
import { DEMO_OPTIONS } from "../../src/cli/demo.ts";
import { INSPECT_OPTIONS } from "../../src/cli/inspect.ts";
import { buildProgram } from "../../src/cli/main.ts";
import { isLoratuneError } from "../../src/errors.ts";
import {
  EVAL_OPTIONS,
  evaluate,
  GENERATE_OPTIONS,
  generate,
  MERGE_OPTIONS,
  merge,
  type OptionDef,
  TRAIN_OPTIONS,
  train,
} from "../../src/index.ts";
import { GREEDY } from "../../src/model/sampling.ts";
import { ADAMW_DEFAULTS } from "../../src/train/adamw.ts";
import { UI_OPTIONS } from "../../src/ui/options.ts";
import { GOLDEN, ROOT } from "../helpers/cli.ts";

const TINY = join(GOLDEN, "models", "tiny"); // no tokenizer.json: pre-tokenized data and prompt ids
const DEMO = join(ROOT, "models", "demo");
const DATA = join(GOLDEN, "train", "data.jsonl");
const work = mkdtempSync(join(tmpdir(), "loratune-options-"));
after(() => rmSync(work, { recursive: true, force: true }));

const TABLES: Record<string, readonly OptionDef[]> = {
  train: TRAIN_OPTIONS,
  eval: EVAL_OPTIONS,
  generate: GENERATE_OPTIONS,
  merge: MERGE_OPTIONS,
  bench: BENCH_OPTIONS,
  demo: DEMO_OPTIONS,
  inspect: INSPECT_OPTIONS,
  ui: UI_OPTIONS,
};

const usage = (re: RegExp) => (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && re.test(e.message);

test("every command's flags are its option table's, in order", () => {
  const program = buildProgram();
  for (const [name, table] of Object.entries(TABLES)) {
    const cmd = program.commands.find((c) => c.name() === name);
    assert.ok(cmd, name);
    assert.deepEqual(
      cmd.options.map((o) => o.flags),
      table.map(flagSpelling),
      name,
    );
  }
});

test("defaults have one definition: the tables (and below them GREEDY and ADAMW_DEFAULTS)", () => {
  const gen = withDefaults(GENERATE_OPTIONS, {});
  assert.deepEqual(
    [gen.temperature, gen["top-k"], gen["top-p"], gen["repetition-penalty"]],
    [GREEDY.temperature, GREEDY.topK, GREEDY.topP, GREEDY.repetitionPenalty],
  );
  const o = trainRunOptions({ model: "demo", data: "d.jsonl", out: "o" });
  for (const d of TRAIN_OPTIONS.filter((d) => !d.required)) {
    assert.deepEqual((o as unknown as Record<string, unknown>)[camelKey(d.key)], d.default, d.key);
  }
  assert.deepEqual([o.beta1, o.beta2, o.adamEps], [ADAMW_DEFAULTS.beta1, ADAMW_DEFAULTS.beta2, ADAMW_DEFAULTS.eps]);
  assert.equal(trainRunOptions({ model: "demo", data: "d.jsonl", out: "o", beta2: 0.95 }).beta2, 0.95);
});

test("the library (src/index.ts) takes only the required options: train, evaluate, generate, merge", async () => {
  const out = join(work, "run");
  const warnings: string[] = [];
  const r = await train({ model: TINY, data: DATA, out }, { onMessage: (m) => warnings.push(m) });
  // The defaults: one epoch of 20 rows in batches of 4, and config.yaml holds every default.
  assert.equal(r.totalSteps, 5);
  assert.equal(r.reason, "completed");
  const settings = parseYaml(readFileSync(join(out, "config.yaml"), "utf8")) as Record<string, unknown>;
  assert.equal(settings.rank, 8);
  assert.equal(settings.lr, 2e-4);
  assert.equal(settings["lr-schedule"], "constant");
  assert.equal(settings["grad-checkpoint"], false);

  const e = await evaluate({ model: TINY, data: DATA });
  assert.ok(Number.isFinite(e.loss) && e.tokens > 0);
  const withAdapter = await evaluate({ model: TINY, data: DATA, adapter: out });
  assert.ok(Number.isFinite(withAdapter.loss));

  const g = await generate({ model: TINY, promptIds: [1, 2, 3] });
  assert.ok(g.ids.length > 0 && g.ids.length <= 64, "at most --max-tokens' default");
  const again = await generate({ model: TINY, promptIds: [1, 2, 3] });
  assert.deepEqual(again.ids, g.ids, "greedy by default");
  const text = await generate({ model: DEMO, prompt: "Hello", maxTokens: 3 });
  assert.ok(text.text !== null && text.ids.length <= 3);

  const merged = join(work, "merged");
  const m = await merge({ model: TINY, adapter: out, out: merged });
  assert.equal(m.out, merged);
  assert.ok(existsSync(join(merged, "model.safetensors")));
});

test("bounds are checked for library callers too, naming the option as passed, before anything is written", async () => {
  const out = join(work, "refused");
  const base = { model: TINY, data: DATA, out };
  for (const [extra, re] of [
    [{ alpha: 0 }, /^alpha: must be greater than 0 \(got 0\)$/],
    [{ dropout: 1 }, /^dropout: must be below 1/],
    [{ valSplit: 1 }, /^valSplit: must be below 1/],
    [{ rank: 2.5 }, /^rank: expected an integer/],
    [{ layers: "0,NaN" }, /^layers: "NaN" is not a layer index/],
    [{ lrSchedule: "step" }, /^lrSchedule: expected one of constant, linear, cosine/],
  ] as const) {
    await assert.rejects(train({ ...base, ...(extra as object) }), usage(re), JSON.stringify(extra));
  }
  assert.ok(!existsSync(out), "nothing was written");
  await assert.rejects(
    train({ model: TINY, data: DATA } as Parameters<typeof train>[0]),
    usage(/^train: missing required option out$/),
  );
  await assert.rejects(evaluate({ model: TINY, data: DATA, batchSize: 0 }), usage(/^batchSize: must be at least 1/));
  await assert.rejects(evaluate({ model: TINY, data: DATA, seqLen: 1 }), usage(/^seqLen: must be at least 2/));
  await assert.rejects(generate({ model: TINY, promptIds: [1], topP: 1.5 }), usage(/^topP: must be at most 1/));
  await assert.rejects(generate({ model: TINY, promptIds: [1, -2] }), usage(/^promptIds: "-2" is not a token id$/));
  await assert.rejects(
    merge({ model: TINY, adapter: join(work, "run") } as Parameters<typeof merge>[0]),
    usage(/^merge: missing required option out$/),
  );
});
