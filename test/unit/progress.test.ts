import assert from "node:assert/strict";
import { test } from "node:test";
import { createProgress, formatDuration, type StepProgress } from "../../src/cli/progress.ts";

/** A fake output stream that records what is written; `isTTY` and `columns` as a terminal would have them. */
function sink(isTTY = false): { stream: NodeJS.WritableStream; text: () => string; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = {
    isTTY,
    columns: 100,
    write(chunk: string | Uint8Array, ...rest: unknown[]) {
      chunks.push(String(chunk));
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const text = () => chunks.join("");
  return {
    stream,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter((l) => l !== ""),
  };
}

function stepAt(step: number, totalSteps: number, elapsedS: number): StepProgress {
  return { step, totalSteps, loss: 2 + 1 / step, lr: 1e-4, gradNorm: 0.5, tokensPerS: 1234.5, elapsedS };
}

test("plain mode: 10,000 quick steps print the first, the last and about one line per 10%", () => {
  const out = sink();
  let ms = 0;
  const p = createProgress({ json: false, isTTY: false, stream: out.stream, totalSteps: 10_000, now: () => ms });
  for (let s = 1; s <= 10_000; s++) {
    ms += 1; // 1 ms per step: 10 s in all
    p.step(stepAt(s, 10_000, ms / 1000));
  }
  p.done();
  const lines = out.lines();
  assert.ok(lines.length >= 10 && lines.length <= 16, `${lines.length} lines`);
  assert.match(
    lines[0] as string,
    /^step 1\/10000 \(0%\) {2}loss 3\.0000 {2}lr 1\.00e-4 {2}grad 0\.500 {2}1235 tok\/s/,
  );
  assert.match(lines.at(-1) as string, /^step 10000\/10000 \(100%\).* eta 0s$/);
  assert.ok(lines.some((l) => l.startsWith("step 5000/10000 (50%)")));
});

test("plain mode: slow steps print at most every 2 s and never a line per step", () => {
  const out = sink();
  let ms = 0;
  const p = createProgress({ json: false, isTTY: false, stream: out.stream, totalSteps: 1000, now: () => ms });
  for (let s = 1; s <= 1000; s++) {
    ms += 3000; // 3 s per step
    p.step(stepAt(s, 1000, ms / 1000));
  }
  p.done();
  const lines = out.lines();
  // every 1% of the run (10 steps) once 2 s have passed: ~100 lines, not 1000
  assert.ok(lines.length >= 95 && lines.length <= 105, `${lines.length} lines`);
  assert.match(lines[1] as string, /^step 11\/1000 \(1%\).* elapsed 33s {2}eta 49m27s$/);

  // fast steps with a real gap in the clock: the 2 s interval alone triggers a line
  const out2 = sink();
  ms = 0;
  const q = createProgress({ json: false, isTTY: false, stream: out2.stream, totalSteps: 100_000, now: () => ms });
  q.step(stepAt(1, 100_000, 0.01));
  q.step(stepAt(2000, 100_000, 0.5)); // < 2 s later: quiet
  ms = 2500;
  q.step(stepAt(2001, 100_000, 2.5)); // 2.5 s later and > 1% further: a line
  assert.deepEqual(
    out2.lines().map((l) => l.split("  ")[0]),
    ["step 1/100000 (0%)", "step 2001/100000 (2%)"],
  );
});

test("plain mode: done() prints the last step when the run stops early; eval and messages are lines", () => {
  const out = sink();
  let ms = 0;
  const p = createProgress({ json: false, isTTY: false, stream: out.stream, totalSteps: 1000, now: () => ms });
  p.message("loading model");
  for (let s = 1; s <= 537; s++) {
    ms += 1;
    p.step(stepAt(s, 1000, ms / 1000));
    if (s === 500) p.eval({ step: 500, valLoss: 1.23456, valPerplexity: 3.437 });
  }
  p.message("early stopping");
  p.done();
  const lines = out.lines();
  assert.equal(lines[0], "loading model");
  assert.ok(lines.includes("eval step 500  val_loss 1.2346  ppl 3.44"));
  assert.equal(lines.at(-2), "early stopping");
  assert.match(lines.at(-1) as string, /^step 537\/1000 \(53%\)/);
  assert.ok(lines.length < 12);
});

test("json mode: one parseable object (snake_case keys) per step and eval on the stream, messages elsewhere", () => {
  const out = sink();
  const err = sink();
  const p = createProgress({ json: true, isTTY: true, stream: out.stream, messageStream: err.stream, totalSteps: 3 });
  p.message("hello");
  for (let s = 1; s <= 3; s++) p.step(stepAt(s, 3, s / 10));
  p.step({ ...stepAt(3, 3, 1), loss: Number.NaN });
  p.eval({ step: 3, valLoss: 1.5, valPerplexity: Math.exp(1.5) });
  p.done();
  const rows = out
    .text()
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    rows.map((r) => r.type),
    ["step", "step", "step", "step", "eval"],
  );
  const { totalSteps, gradNorm, tokensPerS, elapsedS, ...rest } = stepAt(1, 3, 0.1);
  const snake = { total_steps: totalSteps, grad_norm: gradNorm, tokens_per_s: tokensPerS, elapsed_s: elapsedS };
  assert.deepEqual(rows[0], { type: "step", ...rest, ...snake });
  assert.equal(rows[3]?.loss, null); // NaN has no JSON form
  assert.deepEqual(rows[4], { type: "eval", step: 3, val_loss: 1.5, val_perplexity: Math.exp(1.5) });
  assert.ok(out.text().endsWith("\n"));
  assert.equal(err.text(), "hello\n");
});

test("TTY mode: a live bar on a fake terminal, messages above it, ends with a newline", () => {
  const out = sink(true);
  const p = createProgress({ json: false, isTTY: true, stream: out.stream, totalSteps: 20 });
  p.message("before the bar");
  for (let s = 1; s <= 20; s++) {
    p.step(stepAt(s, 20, s * 0.5));
    if (s === 10) p.message("checkpoint saved");
    if (s === 15) p.eval({ step: 15, valLoss: 2, valPerplexity: 7.389 });
  }
  p.done();
  p.done(); // idempotent
  p.message("after");
  const text = out.text();
  assert.ok(text.startsWith("before the bar\n"));
  assert.ok(text.includes("\r\x1b[2Kcheckpoint saved\n"));
  assert.ok(text.includes("eval step 15  val_loss 2.0000  ppl 7.39\n"));
  assert.match(text, /20\/20 \| loss 2\.0500 \| 1235 tok\/s \| elapsed 10s \| ETA 0s/);
  assert.ok(text.endsWith("\nafter\n"));
  const beforeAfter = text.slice(0, -"after\n".length);
  assert.ok(beforeAfter.endsWith("\n"), "the bar's last line is closed by a newline");
});

test("TTY requested but the stream is not a terminal: plain lines, no escape codes", () => {
  const out = sink(false);
  const p = createProgress({ json: false, isTTY: true, stream: out.stream, totalSteps: 2 });
  p.step(stepAt(1, 2, 1));
  p.step(stepAt(2, 2, 2));
  p.done();
  assert.equal(out.lines().length, 2);
  assert.ok(!out.text().includes("\x1b"));
});

test("formatDuration", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(59.4), "59s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(7620), "2h07m");
  assert.equal(formatDuration(Number.NaN), "?");
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), "?");
});
