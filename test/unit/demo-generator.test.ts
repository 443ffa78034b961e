/**
 * The demo's synthetic world: corpus and task determinism, the disjoint split, the answer format, the
 * exact-match metric, and the absence of the answer format from the corpus.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { corpusJsonl, generateCorpus } from "../../src/demo/corpus.ts";
import {
  exactMatch,
  formatAnswer,
  generateTask,
  parseAnswer,
  scoreExactMatch,
  toChatRow,
} from "../../src/demo/task.ts";
import { writeTaskDataset } from "../../src/demo/task-files.ts";
import { CARD_TEMPLATES, COLORS, demoRng, JOBS, NAMES, OBJECTS, TOWNS } from "../../src/demo/world.ts";
import { LoratuneError } from "../../src/errors.ts";

const corpus = generateCorpus(11, 3000);

test("corpus and task are deterministic by seed and differ across seeds", () => {
  assert.deepEqual(generateCorpus(11, 3000), corpus);
  assert.notDeepEqual(generateCorpus(12, 50), corpus.slice(0, 50));
  const a = generateTask({ seed: 5, trainSize: 300, testSize: 50 });
  assert.deepEqual(generateTask({ seed: 5, trainSize: 300, testSize: 50 }), a);
  const b = generateTask({ seed: 6, trainSize: 300, testSize: 50 });
  assert.notDeepEqual(b.test, a.test);
  assert.notDeepEqual(b.train, a.train);
});

test("the test set is fixed by the seed, whatever the train size", () => {
  const small = generateTask({ seed: 5, trainSize: 10, testSize: 50 });
  const big = generateTask({ seed: 5, trainSize: 500, testSize: 50 });
  assert.deepEqual(big.test, small.test);
  assert.deepEqual(big.train.slice(0, 10), small.train);
});

test("train and test are disjoint, free of duplicates and of the requested sizes", () => {
  const { train, test: held } = generateTask({ seed: 1, trainSize: 4000, testSize: 200 });
  assert.equal(train.length, 4000);
  assert.equal(held.length, 200);
  const trainPrompts = new Set(train.map((r) => r.prompt));
  const testPrompts = new Set(held.map((r) => r.prompt));
  assert.equal(trainPrompts.size, train.length);
  assert.equal(testPrompts.size, held.length);
  for (const p of testPrompts) assert.ok(!trainPrompts.has(p), `test prompt in train: ${p}`);
});

test("every completion parses in the documented format and copies spans of its sentence", () => {
  const { train, test: held } = generateTask({ seed: 2, trainSize: 1000, testSize: 100 });
  const items = new Set(OBJECTS.map((o) => o.one));
  const names = new Set(NAMES.map((n) => n.name));
  for (const row of [...train, ...held]) {
    assert.match(row.prompt, /^Sentence: [A-Z][^\n]*\.\nCard:\n$/);
    const f = parseAnswer(row.completion);
    assert.ok(f, `does not parse: ${row.completion}`);
    assert.equal(formatAnswer(f), row.completion);
    assert.match(row.completion, /^name: [A-Za-z]+, job: [a-z]+, town: [A-Za-z]+, item: [a-z]+$/);
    assert.ok(names.has(f.name) && JOBS.includes(f.job) && TOWNS.includes(f.town) && items.has(f.item));
    for (const span of [f.name, ` ${f.job}`, f.town, ` ${f.item}`]) {
      assert.ok(row.prompt.includes(span), `"${span}" not in ${row.prompt}`);
    }
  }
});

test("the task draws on every card template, and a narrower template set is honoured", () => {
  const { train } = generateTask({ seed: 3, trainSize: 500, testSize: 0 });
  const signatures = [" lives in ", "In ", ", a", " belongs to ", " named "];
  for (const sig of signatures)
    assert.ok(
      train.some((r) => r.prompt.includes(sig)),
      sig,
    );
  const only = generateTask({ seed: 3, trainSize: 200, testSize: 0, templates: [3] });
  assert.ok(only.train.every((r) => r.prompt.includes(" belongs to ")));
  assert.throws(
    () => generateTask({ seed: 3, templates: [CARD_TEMPLATES.length] }),
    (e: unknown) => e instanceof LoratuneError && e.code === "ERR_USAGE",
  );
});

test("vocabulary categories are disjoint, so every field is determined by its sentence", () => {
  const lists = [NAMES.map((n) => n.name.toLowerCase()), JOBS, TOWNS.map((t) => t.toLowerCase()), COLORS];
  const all = [...lists.flat(), ...OBJECTS.map((o) => o.one)];
  assert.equal(new Set(all).size, all.length);
});

test("parseAnswer accepts only the canonical line", () => {
  const good = "name: Mira, job: baker, town: Oakford, item: kettle";
  assert.deepEqual(parseAnswer(good), { name: "Mira", job: "baker", town: "Oakford", item: "kettle" });
  const bad = [
    "name:Mira, job:baker, town:Oakford, item:red kettle",
    "job: baker, name: Mira, town: Oakford, item: kettle",
    "name: Mira, job: baker, town: Oakford",
    "name: Mira, job: baker, town: Oakford, item: kettle, x: y",
    "name: Mira, job: baker, town: Oakford, item: 3",
    `${good} and more`,
    "Mira the baker",
    "",
  ];
  for (const b of bad) assert.equal(parseAnswer(b), null, b);
});

test("exactMatch normalizes trailing whitespace only", () => {
  const ref = "name: Mira, job: baker, town: Oakford, item: kettle";
  assert.ok(exactMatch(ref, ref));
  assert.ok(exactMatch(`${ref} \n`, ref));
  assert.ok(exactMatch(ref, `${ref}\n`));
  assert.ok(!exactMatch(` ${ref}`, ref));
  assert.ok(!exactMatch(ref.replace("Mira", "mira"), ref));
  assert.ok(!exactMatch(ref.replace(", ", ","), ref));
  assert.ok(!exactMatch(`${ref}.`, ref));
  assert.ok(!exactMatch("", ref));
});

test("scoreExactMatch counts pairwise matches and rejects mismatched lengths", () => {
  assert.deepEqual(scoreExactMatch(["a", "b ", "x", "d"], ["a", "b", "c", "d\n"]), {
    correct: 3,
    total: 4,
    accuracy: 0.75,
  });
  assert.deepEqual(scoreExactMatch([], []), { correct: 0, total: 0, accuracy: 0 });
  assert.throws(
    () => scoreExactMatch(["a"], ["a", "b"]),
    (e: unknown) => e instanceof LoratuneError && e.code === "ERR_DATA" && /1 predictions for 2/.test(e.message),
  );
});

test("the corpus never contains the task's answer format or prompt markers", () => {
  for (const p of corpus) {
    assert.doesNotMatch(p, /[{}"]/, p);
    assert.doesNotMatch(p, /Sentence:|Card:|\b(name|job|town|item): /, p);
    for (const line of p.split("\n")) assert.match(line, /^[A-Z][A-Za-z ,]*[.:]( [A-Z][A-Za-z ,]*\.)*$/, line);
  }
  const { train } = generateTask({ seed: 11, trainSize: 200, testSize: 0 });
  const text = corpus.join("\n");
  for (const r of train) assert.ok(!text.includes(r.completion.slice(0, 10)));
});

test("the corpus uses every token of the task's format in other contexts (frozen embeddings stay useful)", () => {
  const text = corpus.join("\n");
  for (const w of ["sentence", "card", " name ", " job ", " town", " item ", ":\n"]) assert.ok(text.includes(w), w);
});

test("the corpus is varied, grammatical in its articles, and contains the card sentences", () => {
  assert.ok(new Set(corpus).size > corpus.length * 0.99);
  const words = new Set(corpus.flatMap((p) => p.split(/[ ,.]+/)));
  assert.ok(words.size > 300, `only ${words.size} distinct words`);
  for (const p of corpus) {
    assert.doesNotMatch(p, /\b[Aa] [aeiou]/, p);
    assert.doesNotMatch(p, /\b[Aa]n [^aeiou]/, p);
  }
  for (const sig of [" lives in ", " keeps a", " from ", " belongs to ", " named "]) {
    assert.ok(
      corpus.some((p) => p.includes(sig)),
      sig,
    );
  }
  const rows = corpusJsonl(corpus.slice(0, 3)).trimEnd().split("\n");
  assert.deepEqual(
    rows.map((l) => JSON.parse(l).text),
    corpus.slice(0, 3),
  );
});

test("writeTaskDataset writes both files atomically in either row format", async () => {
  const dir = await mkdtemp(join(tmpdir(), "loratune-demo-"));
  try {
    const out = join(dir, "nested", "data");
    const w = await writeTaskDataset(out, { seed: 9, trainSize: 40, testSize: 10 });
    assert.deepEqual((await readdir(out)).sort(), ["test.jsonl", "train.jsonl"]);
    const train = (await readFile(w.trainPath, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const held = (await readFile(w.testPath, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(train, generateTask({ seed: 9, trainSize: 40, testSize: 10 }).train);
    assert.equal(held.length, 10);
    await writeTaskDataset(out, { seed: 9, trainSize: 40, testSize: 10, format: "messages" });
    const chat = (await readFile(w.testPath, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(chat, w.split.test.map(toChatRow));
    assert.equal(chat[0]!.messages[0].role, "user");
    assert.ok(!chat[0]!.messages[0].content.endsWith("\n"));
    assert.deepEqual((await readdir(out)).sort(), ["test.jsonl", "train.jsonl"]);
    const blocked = join(dir, "file");
    await writeTaskDataset(blocked, { seed: 9, trainSize: 1, testSize: 1 });
    await assert.rejects(
      writeTaskDataset(join(blocked, "train.jsonl", "x"), { seed: 9, trainSize: 1, testSize: 1 }),
      (e: unknown) => e instanceof LoratuneError && e.code === "ERR_IO",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("demo streams are seeded, differ by label and seed, and reject non-integer seeds", () => {
  const draw = (seed: number, label: string) => {
    const r = demoRng(seed, label);
    return Array.from({ length: 64 }, () => r.nextInt(1000));
  };
  assert.deepEqual(draw(1, "task"), draw(1, "task"));
  assert.notDeepEqual(draw(1, "task"), draw(1, "corpus"));
  assert.notDeepEqual(draw(1, "task"), draw(2, "task"));
  assert.notDeepEqual(draw(2 ** 40, "task"), draw(2 ** 40 + 2 ** 32, "task"));
  assert.notDeepEqual(draw(-1, "task"), draw(2 ** 32 - 1, "task"));
  assert.throws(() => demoRng(0.5, "task"), LoratuneError);
});
