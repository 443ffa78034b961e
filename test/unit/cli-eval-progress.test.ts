/** `loratune eval` progress: plain lines every 10 s on a non-terminal, silent with --json there, a bar on a terminal. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EvaluateProgress } from "../../src/api/evaluate.ts";
import { createEvalProgress, formatEvalProgress } from "../../src/cli/eval-progress.ts";

function sink(isTTY: boolean): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  const stream = {
    isTTY,
    columns: 120,
    write(chunk: string | Uint8Array, ...rest: unknown[]) {
      chunks.push(String(chunk));
      (rest.find((r) => typeof r === "function") as (() => void) | undefined)?.();
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join("") };
}

const at = (done: number, batches = 100): EvaluateProgress => ({
  done,
  batches,
  tokens: done * 50,
  totalTokens: batches * 50,
});

/** Feeds batches 0..100, one every `msPerBatch` of fake time. */
function run(o: { isTTY: boolean; json: boolean; msPerBatch: number }): string {
  const out = sink(o.isTTY);
  let ms = 0;
  const p = createEvalProgress({ stream: out.stream, isTTY: o.isTTY, json: o.json, now: () => ms });
  for (let i = 0; i <= 100; i++) {
    p.update(at(i));
    ms += o.msPerBatch;
  }
  p.done();
  return out.text();
}

test("not a terminal: a line every 10 s once the run has lasted that long; nothing for short runs", () => {
  const long = run({ isTTY: false, json: false, msPerBatch: 1000 }).trim().split("\n");
  assert.equal(long.length, 9, long.join("\n")); // at 10 s, 20 s, ... 90 s (the end prints nothing: the result follows)
  assert.equal(long[0], "eval: 10/100 batches (10%), 500/5000 label tokens, elapsed 10s, eta 1m30s");
  assert.equal(run({ isTTY: false, json: false, msPerBatch: 50 }), "", "a 5 s evaluation prints no progress");
});

test("not a terminal with --json: silent; a terminal: a bar on stderr, erased at the end, also with --json", () => {
  assert.equal(run({ isTTY: false, json: true, msPerBatch: 1000 }), "");
  for (const json of [false, true]) {
    const text = run({ isTTY: true, json, msPerBatch: 1000 });
    assert.match(text, /eval .* 100\/100 batches \| 5000 label tokens/);
    assert.ok(text.includes("\x1b"), "terminal control codes");
  }
});

test("formatEvalProgress: percentage and ETA from the mean time per batch", () => {
  assert.equal(
    formatEvalProgress(at(25, 200), 50),
    "eval: 25/200 batches (12%), 1250/10000 label tokens, elapsed 50s, eta 5m50s",
  );
  assert.match(formatEvalProgress(at(0), 0), /eta \?$/);
});
