/**
 * The library as a user meets it (src/index.ts): typed progress events, cancellation by AbortSignal (train
 * checkpoints and stops as Ctrl-C does, and the run resumes to the same adapter as an uninterrupted one;
 * evaluate and generate stop and reject), streaming generation, a model held in memory with loadModel and
 * loadAdapter, and errors that name options as the caller passed them while the command line keeps its flags.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { asCommandLine, callerText } from "../../src/api/option-names.ts";
import { TextPieces } from "../../src/api/text-pieces.ts";
import {
  evaluate,
  generate,
  generateStream,
  isLoratuneError,
  loadAdapter,
  loadModel,
  TRAIN_OPTIONS,
  type TrainEvent,
  type TrainOptions,
  train,
} from "../../src/index.ts";
import type { Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { GOLDEN } from "../helpers/cli.ts";

const TINY = join(GOLDEN, "models", "tiny"); // no tokenizer.json: pre-tokenized data and prompt ids
const DATA = join(GOLDEN, "train", "data.jsonl"); // 20 rows
const work = mkdtempSync(join(tmpdir(), "loratune-library-"));
after(() => rmSync(work, { recursive: true, force: true }));

const usage = (re: RegExp) => (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && re.test(e.message);
const isAbort = (e: unknown) => e instanceof Error && e.name === "AbortError";
const quiet = { onMessage: () => {} };
const run = (name: string): TrainOptions => ({
  model: TINY,
  data: DATA,
  out: join(work, name),
  steps: 6,
  batchSize: 2,
});

test("train: typed events in order; an abort checkpoints and stops like Ctrl-C, and the run resumes exactly", async () => {
  const straight = await train({ ...run("straight"), ...quiet });
  assert.equal(straight.reason, "completed");

  const controller = new AbortController();
  const events: TrainEvent[] = [];
  const interrupted = await train({
    ...run("aborted"),
    ...quiet,
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === "step" && e.step === 2) controller.abort();
    },
  });
  assert.equal(interrupted.reason, "interrupted");
  assert.equal(interrupted.steps, 2);
  assert.deepEqual(
    events.map((e) => e.type),
    ["start", "step", "step", "checkpoint", "end"],
  );
  const start = events[0]!;
  assert.ok(start.type === "start" && start.totalSteps === 6 && start.startStep === 0);
  const end = events.at(-1)!;
  assert.ok(end.type === "end" && end.reason === "interrupted");
  const marker = JSON.parse(readFileSync(join(work, "aborted", "loratune.json"), "utf8"));
  assert.equal(marker.status, "interrupted");

  const resumedEvents: TrainEvent[] = [];
  const resumed = await train({
    ...run("aborted"),
    ...quiet,
    resume: join(work, "aborted"),
    onEvent: (e) => resumedEvents.push(e),
  });
  assert.equal(resumed.reason, "completed");
  const restart = resumedEvents[0]!;
  assert.ok(restart.type === "start" && restart.startStep === 2);
  const adapter = (name: string) => readFileSync(join(work, name, "adapter_model.safetensors"));
  assert.ok(adapter("aborted").equals(adapter("straight")), "interrupted + resumed = one uninterrupted run");
});

test("train: a signal aborted before the call rejects at once and writes nothing", async () => {
  const out = join(work, "never");
  await assert.rejects(train({ ...run("never"), signal: AbortSignal.abort() }), isAbort);
  assert.ok(!existsSync(out));
});

test("evaluate: progress per batch, and an abort rejects with the signal's reason", async () => {
  const seen: number[] = [];
  const full = await evaluate({ model: TINY, data: DATA, onProgress: (p) => seen.push(p.done) });
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  assert.ok(Number.isFinite(full.loss));
  const controller = new AbortController();
  const done: number[] = [];
  const stopped = evaluate({
    model: TINY,
    data: DATA,
    signal: controller.signal,
    onProgress: (p) => {
      done.push(p.done);
      if (p.done === 2) controller.abort();
    },
  });
  await assert.rejects(stopped, isAbort);
  assert.deepEqual(done, [0, 1, 2], "no batch after the abort");
});

test("generateStream: each token as it comes, the pieces joined are generate()'s text", async () => {
  const prompt = "Sentence: Lila the farmer lives in Bellcross and owns a red scarf.\nCard:\n";
  const whole = await generate({ model: "demo", prompt, maxTokens: 24 });
  const ids: number[] = [];
  let text = "";
  for await (const token of generateStream({ model: "demo", prompt, maxTokens: 24 })) {
    ids.push(token.id);
    text += token.text;
  }
  assert.deepEqual(ids, whole.ids);
  assert.equal(text, whole.text);
  assert.ok(text.length > 0);

  // The generator's return value is the whole output; leaving a loop early stops generating.
  const stream = generateStream({ model: TINY, promptIds: [1, 2, 3], maxTokens: 5 });
  let next = await stream.next();
  while (!next.done) next = await stream.next();
  assert.equal(next.value.ids.length, 5);
  assert.equal(next.value.text, null, "no tokenizer: ids only");
  let taken = 0;
  for await (const _ of generateStream({ model: TINY, promptIds: [1, 2, 3], maxTokens: 50 })) if (++taken === 2) break;
  assert.equal(taken, 2);
});

test("streamed text never splits a character: a token ending inside one adds nothing until it is whole", () => {
  // A byte-level vocabulary: token id = one UTF-8 byte, decoded as Node decodes bytes (U+FFFD for a cut sequence).
  const bytes = { decode: (ids: ArrayLike<number>) => Buffer.from(Array.from(ids)).toString("utf8") } as Tokenizer;
  const pieces = new TextPieces(bytes);
  const ids = [...Buffer.from("né😀!")];
  const got = ids.map((id) => pieces.push(id));
  assert.deepEqual(got, ["n", "", "é", "", "", "", "😀", "!"]);
  const cut = new TextPieces(bytes);
  assert.deepEqual(
    [0x61, 0xc3].map((id) => cut.push(id)),
    ["a", ""],
  );
});

test("generate: an abort stops before the next token and rejects", async () => {
  const controller = new AbortController();
  const got: number[] = [];
  const stream = generateStream({ model: TINY, promptIds: [1, 2, 3], maxTokens: 50, signal: controller.signal });
  await assert.rejects(
    (async () => {
      for await (const token of stream) {
        got.push(token.id);
        if (got.length === 3) controller.abort();
      }
    })(),
    isAbort,
  );
  assert.equal(got.length, 3);
  await assert.rejects(generate({ model: TINY, promptIds: [1], signal: AbortSignal.abort() }), isAbort);
});

test("loadModel/loadAdapter: a model held in memory generates and evaluates as its directories do", async () => {
  const adapterDir = join(work, "straight");
  const loaded = await loadModel(TINY);
  assert.equal(loaded.adapter, null);
  const base = await generate({ model: loaded, promptIds: [5, 6, 7], maxTokens: 8 });
  assert.deepEqual(base.ids, (await generate({ model: TINY, promptIds: [5, 6, 7], maxTokens: 8 })).ids);

  await loadAdapter(loaded, adapterDir);
  assert.equal(loaded.adapterPath, adapterDir);
  const adapted = await evaluate({ model: loaded, data: DATA });
  assert.equal(adapted.loss, (await evaluate({ model: TINY, adapter: adapterDir, data: DATA })).loss);
  // Loading it again replaces it (not a second adapter on top).
  await loadAdapter(loaded, adapterDir);
  assert.equal((await evaluate({ model: loaded, data: DATA })).loss, adapted.loss);

  await assert.rejects(
    generate({ model: loaded, promptIds: [1], adapter: adapterDir, dtype: "bf16" }),
    usage(/^generate: the model given is loaded already, so adapter and dtype cannot apply/),
  );
  await assert.rejects(loadModel(join(work, "nowhere")), (e: unknown) => isLoratuneError(e) && e.code === "ERR_IO");
  await assert.rejects(loadModel(TINY, { dtype: "f64" as "f32" }), usage(/^dtype: expected one of/));
});

test("errors and warnings name options as the caller passed them; the command line keeps its flags", async () => {
  const base = { model: TINY, data: DATA, out: join(work, "refused") };
  await assert.rejects(train({ ...base, alpha: 0 }), usage(/^alpha: must be greater than 0 \(got 0\)$/));
  await assert.rejects(
    asCommandLine(() => train({ ...base, alpha: 0 })),
    usage(/^--alpha: must be greater than 0 \(got 0\)$/),
  );
  // A check deep below the api (preflight) reads the same way.
  await assert.rejects(train({ ...base, seqLen: 100_000 }), (e: unknown) => {
    assert.match(
      String((e as Error).message),
      /^seqLen 100000 exceeds the model's max_position_embeddings .* pass seqLen \d+/,
    );
    return true;
  });
  await assert.rejects(
    asCommandLine(() => train({ ...base, seqLen: 100_000 })),
    (e: unknown) => /^--seq-len 100000 exceeds .* pass --seq-len \d+/.test((e as Error).message),
  );
  await assert.rejects(generate({ model: TINY }), usage(/^give a prompt: prompt \(text\) or promptIds \(token ids\)$/));
  await assert.rejects(
    train({ model: TINY, data: DATA } as TrainOptions),
    usage(/^train: missing required option out$/),
  );

  const warnings: string[] = [];
  await train({ ...run("warned"), warmupSteps: 10, onMessage: (m) => warnings.push(m) });
  const warmup = warnings.find((w) => w.includes("warmupSteps 10"));
  assert.ok(warmup, warnings.join("\n"));
  assert.doesNotMatch(warmup, /--/);
});

test("callerText renames only the command's flags, and leaves quoted commands alone", () => {
  assert.equal(callerText("--lr-schedule: expected one of a, b", TRAIN_OPTIONS), "lrSchedule: expected one of a, b");
  assert.equal(callerText("with --no-shuffle", TRAIN_OPTIONS), "with shuffle: false");
  assert.equal(callerText("pass --overwrite to replace it", TRAIN_OPTIONS), "pass overwrite: true to replace it");
  assert.equal(callerText("--overwrite: expected true or false", TRAIN_OPTIONS), "overwrite: expected true or false");
  assert.equal(callerText("--help and --nonsense stay", TRAIN_OPTIONS), "--help and --nonsense stay");
  assert.equal(
    callerText("runs/x is kept; continue it with: loratune train --resume runs/x", TRAIN_OPTIONS),
    "runs/x is kept; continue it with: loratune train --resume runs/x",
  );
  assert.equal(
    asCommandLine(() => callerText("--seq-len 4", TRAIN_OPTIONS)),
    "--seq-len 4",
  );
});
