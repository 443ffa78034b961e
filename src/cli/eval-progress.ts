/**
 * Progress of `loratune eval`, always on stderr (stdout carries only the result):
 * - stderr is a terminal: a live bar (batches, label tokens, elapsed, ETA), erased when the evaluation ends;
 *   also with --json, whose stdout stays one JSON object.
 * - stderr is not a terminal (CI, logs): a plain line every 10 s, the first after 10 s, so short evaluations
 *   print nothing; none at all with --json.
 */
import { SingleBar } from "cli-progress";
import type { EvaluateProgress } from "../api/evaluate.ts";
import { formatDuration } from "./progress.ts";

export interface EvalProgressOptions {
  stream: NodeJS.WritableStream;
  /** Whether `stream` is an interactive terminal. */
  isTTY: boolean;
  json: boolean;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
  /** Plain mode: milliseconds between lines, and before the first (default 10000). */
  intervalMs?: number;
}

export interface EvalProgressReporter {
  update(p: EvaluateProgress): void;
  done(): void;
}

export const EVAL_PROGRESS_INTERVAL_MS = 10_000;

/** The plain-mode line. */
export function formatEvalProgress(p: EvaluateProgress, elapsedS: number): string {
  const pct = p.batches > 0 ? Math.floor((100 * p.done) / p.batches) : 100;
  const eta = p.done > 0 ? (elapsedS / p.done) * (p.batches - p.done) : Number.NaN;
  return (
    `eval: ${p.done}/${p.batches} batches (${pct}%), ${p.tokens}/${p.totalTokens} label tokens, ` +
    `elapsed ${formatDuration(elapsedS)}, eta ${formatDuration(eta)}`
  );
}

export function createEvalProgress(o: EvalProgressOptions): EvalProgressReporter {
  const now = o.now ?? (() => performance.now());
  const start = now();
  const elapsed = () => (now() - start) / 1000;
  if (o.isTTY && (o.stream as { isTTY?: boolean }).isTTY === true) return barReporter(o.stream, elapsed);
  if (o.json) return { update: () => {}, done: () => {} };
  const interval = o.intervalMs ?? EVAL_PROGRESS_INTERVAL_MS;
  let lastAt = start;
  return {
    update(p) {
      if (p.done === 0 || p.done >= p.batches || now() - lastAt < interval) return;
      lastAt = now();
      o.stream.write(`${formatEvalProgress(p, elapsed())}\n`);
    },
    done() {},
  };
}

function barReporter(stream: NodeJS.WritableStream, elapsed: () => number): EvalProgressReporter {
  const bar = new SingleBar({
    stream,
    format: "eval {bar} {value}/{total} batches | {tokens} label tokens | elapsed {elapsedText} | ETA {etaText}",
    barsize: 24,
    barCompleteChar: "\u2588",
    barIncompleteChar: "\u2591",
    fps: 5,
    linewrap: false,
    clearOnComplete: true,
    gracefulExit: false,
  });
  let started = false;
  let finished = false;
  return {
    update(p) {
      if (finished) return;
      const e = elapsed();
      const payload = {
        tokens: p.tokens,
        elapsedText: formatDuration(e),
        etaText: p.done > 0 ? formatDuration((e / p.done) * (p.batches - p.done)) : "?",
      };
      if (!started) {
        started = true;
        bar.start(p.batches, p.done, payload);
      } else bar.update(p.done, payload);
    },
    done() {
      if (started && !finished) bar.stop();
      finished = true;
    },
  };
}
