/**
 * Training progress output, in one of three modes:
 * - TTY: a live single-line bar (cli-progress) with step/total, loss, tokens/s and ETA; messages and eval
 *   results are printed above it without breaking it.
 * - plain (CI, pipes, files): one line per report, at most about every 2 s (and at least 1% of the run apart)
 *   plus each 10% milestone and the first and last step, so long runs never print a line per step.
 * - json: one JSON object per step and per eval (`{"type":"step",...}`), nothing else on that stream;
 *   messages go to `messageStream` (stderr by default).
 * The caller must call done() at the end (the bar holds a redraw timer until then).
 */
import { SingleBar } from "cli-progress";
import { snakeCaseKeys } from "./json-keys.ts";

export interface StepProgress {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerS: number;
  elapsedS: number;
}

export interface EvalProgress {
  step: number;
  valLoss: number;
  valPerplexity: number;
  exactMatch?: number;
  tokenAccuracy?: number;
  /** Preference tuning: held-out pair metrics (shown instead of the perplexity). */
  preference?: { rewardAccuracy: number; rewardMargin: number; preferenceAccuracy: number };
}

export interface Progress {
  step(e: StepProgress): void;
  eval(e: EvalProgress): void;
  message(text: string): void;
  done(): void;
}

export interface ProgressOptions {
  json: boolean;
  /** Whether `stream` is an interactive terminal (the bar also needs `stream.isTTY`, as cli-progress checks it). */
  isTTY: boolean;
  /** Output stream: stdout in json mode, stderr otherwise (defaults). */
  stream?: NodeJS.WritableStream;
  totalSteps: number;
  /** json mode: where message() text goes, so the JSON stream stays clean (default stderr). */
  messageStream?: NodeJS.WritableStream;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
  /** Plain mode: minimum milliseconds between periodic lines (default 2000). */
  intervalMs?: number;
}

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.json) return jsonProgress(opts.stream ?? process.stdout, opts.messageStream ?? process.stderr);
  const stream = opts.stream ?? process.stderr;
  if (opts.isTTY && (stream as { isTTY?: boolean }).isTTY === true) return barProgress(stream, opts.totalSteps);
  return lineProgress(stream, opts);
}

/** "45s", "3m05s", "2h07m"; "?" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function fixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v).toLowerCase();
}

/**
 * ETA from the average time per step in this process: `elapsedS` counts from the start of this run, which
 * may be a resume, so steps are counted from the first one seen here.
 */
function etaTracker(): (e: StepProgress) => number {
  let firstStep: number | undefined;
  return (e) => {
    firstStep ??= e.step;
    const done = e.step - firstStep + 1;
    return (e.elapsedS / done) * Math.max(0, e.totalSteps - e.step);
  };
}

/** The plain-mode line for a step. */
export function formatStepLine(e: StepProgress, etaS: number): string {
  const pct = e.totalSteps > 0 ? Math.floor((100 * e.step) / e.totalSteps) : 100;
  return (
    `step ${e.step}/${e.totalSteps} (${pct}%)  loss ${fixed(e.loss, 4)}  lr ${e.lr.toExponential(2)}  ` +
    `grad ${fixed(e.gradNorm, 3)}  ${fixed(e.tokensPerS, 0)} tok/s  elapsed ${formatDuration(e.elapsedS)}  ` +
    `eta ${formatDuration(etaS)}`
  );
}

export function formatEvalLine(e: EvalProgress): string {
  const task =
    e.exactMatch === undefined
      ? ""
      : `  exact_match ${fixed(100 * e.exactMatch, 1)}%  token_acc ${fixed(100 * (e.tokenAccuracy ?? 0), 1)}%`;
  const p = e.preference;
  const quality = p
    ? `reward_acc ${fixed(100 * p.rewardAccuracy, 1)}%  margin ${fixed(p.rewardMargin, 3)}  pref_acc ${fixed(100 * p.preferenceAccuracy, 1)}%`
    : `ppl ${fixed(e.valPerplexity, 2)}`;
  return `eval step ${e.step}  val_loss ${fixed(e.valLoss, 4)}  ${quality}${task}`;
}

function jsonProgress(out: NodeJS.WritableStream, messages: NodeJS.WritableStream): Progress {
  return {
    step: (e) => out.write(`${JSON.stringify(snakeCaseKeys({ type: "step", ...e }))}\n`),
    eval: (e) => out.write(`${JSON.stringify(snakeCaseKeys({ type: "eval", ...e }))}\n`),
    message: (text) => messages.write(`${text}\n`),
    done: () => {},
  };
}

/** Plain lines, throttled as the header describes. */
function lineProgress(out: NodeJS.WritableStream, opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => performance.now());
  const intervalMs = opts.intervalMs ?? 2000;
  const minSteps = Math.max(1, Math.ceil(opts.totalSteps / 100));
  const eta = etaTracker();
  let printedStep = Number.NEGATIVE_INFINITY; // step of the last printed line
  let printedAt = 0;
  let milestone = -1; // last printed tenth of the run
  let pending: { e: StepProgress; etaS: number } | null = null; // last step, if not printed

  const print = (e: StepProgress, etaS: number) => {
    out.write(`${formatStepLine(e, etaS)}\n`);
    printedStep = e.step;
    printedAt = now();
    milestone = tenth(e);
    pending = null;
  };
  return {
    step(e) {
      const etaS = eta(e);
      const due =
        printedStep === Number.NEGATIVE_INFINITY ||
        e.step >= e.totalSteps ||
        tenth(e) > milestone ||
        (now() - printedAt >= intervalMs && e.step - printedStep >= minSteps);
      if (due) print(e, etaS);
      else pending = { e, etaS };
    },
    eval: (e) => out.write(`${formatEvalLine(e)}\n`),
    message: (text) => out.write(`${text}\n`),
    done() {
      if (pending) print(pending.e, pending.etaS); // e.g. early stopping: show where the run ended
    },
  };
}

function tenth(e: StepProgress): number {
  return e.totalSteps > 0 ? Math.floor((10 * e.step) / e.totalSteps) : 10;
}

/** The live bar; started at the first step so messages printed before it are plain lines. */
function barProgress(out: NodeJS.WritableStream, totalSteps: number): Progress {
  const bar = new SingleBar({
    stream: out,
    format: "{bar} {value}/{total} | loss {loss} | {tps} tok/s | elapsed {elapsed} | ETA {etaText}",
    barsize: 24,
    barCompleteChar: "\u2588",
    barIncompleteChar: "\u2591",
    fps: 10,
    forceRedraw: true, // redraw after a message even when the bar's text is unchanged
    linewrap: false,
    gracefulExit: false,
  });
  const eta = etaTracker();
  let started = false;
  let finished = false;
  const line = (text: string) => {
    if (!started || finished) {
      out.write(`${text}\n`);
      return;
    }
    // Clear the bar's line, print the text, save the cursor at the start of the new bar line (stop()
    // restores to the saved position before its final newline), then redraw the bar.
    out.write(`\r\x1b[2K${text}\n\x1b7`);
    bar.render();
  };
  return {
    step(e) {
      const payload = {
        loss: fixed(e.loss, 4),
        tps: fixed(e.tokensPerS, 0),
        elapsed: formatDuration(e.elapsedS),
        etaText: formatDuration(eta(e)),
      };
      if (finished) return;
      if (!started) {
        started = true;
        bar.start(e.totalSteps || totalSteps, e.step, payload);
      } else bar.update(e.step, payload);
    },
    eval: (e) => line(formatEvalLine(e)),
    message: line,
    done() {
      if (started && !finished) bar.stop();
      finished = true;
    },
  };
}
