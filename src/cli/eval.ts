/** `loratune eval`: mean next-token loss and perplexity of a model (+ adapter) on a JSONL or Parquet dataset. */
import type { Command } from "commander";
import { EVAL_OPTIONS, type EvaluateOptions, evaluate } from "../api/evaluate.ts";
import { preferenceFields } from "../train/metrics.ts";
import { createEvalProgress } from "./eval-progress.ts";
import { addOptions } from "./options.ts";

export function registerEval(program: Command): void {
  const cmd = program
    .command("eval")
    .description(
      "mean next-token loss and perplexity over all label tokens of a dataset (--metric exact-match: task metric; --method dpo|ipo|orpo: preference pairs)",
    )
    .addHelpText(
      "after",
      `
Progress goes to stderr: a live bar when stderr is a terminal (also with --json); otherwise a line every 10 s
once the evaluation has run that long, and nothing with --json.
With --adapter runs/x, {"messages"} rows use the chat template the run was trained with (runs/x/chat_template.jinja).`,
    );
  addOptions(cmd, EVAL_OPTIONS);
  cmd.action(async (o: EvaluateOptions & { json?: boolean }) => {
    const progress = createEvalProgress({
      stream: process.stderr,
      isTTY: process.stderr.isTTY === true,
      json: o.json === true,
    });
    let r: Awaited<ReturnType<typeof evaluate>>;
    try {
      r = await evaluate({ ...o, onProgress: (p) => progress.update(p) });
    } finally {
      progress.done();
    }
    const task =
      r.exactMatch === undefined
        ? {}
        : { exact_match: r.exactMatch, token_accuracy: r.tokenAccuracy, scored_rows: r.scoredRows };
    const pref = r.preference ? preferenceFields(r.preference, "") : {};
    if (o.json) {
      const perplexity = Number.isFinite(r.perplexity) ? r.perplexity : null;
      console.log(JSON.stringify({ loss: r.loss, perplexity, tokens: r.tokens, ...task, ...pref }));
    } else if (r.preference) {
      const p = r.preference;
      console.log(`loss ${r.loss.toFixed(6)}  (${o.method} preference loss, ${r.tokens} completion tokens)`);
      console.log(
        `reward accuracy ${(100 * p.rewardAccuracy).toFixed(1)}%  margin ${p.rewardMargin.toFixed(4)}  ` +
          `rewards chosen ${p.chosenReward.toFixed(4)} rejected ${p.rejectedReward.toFixed(4)}`,
      );
      console.log(
        `preference accuracy ${(100 * p.preferenceAccuracy).toFixed(1)}%  ` +
          `log-probs chosen ${p.chosenLogp.toFixed(4)} rejected ${p.rejectedLogp.toFixed(4)}`,
      );
    } else {
      console.log(`loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}  (${r.tokens} label tokens)`);
      if (r.exactMatch !== undefined)
        console.log(
          `exact match ${(100 * r.exactMatch).toFixed(1)}%  token accuracy ${(100 * r.tokenAccuracy!).toFixed(1)}%  (${r.scoredRows} rows, greedy)`,
        );
    }
  });
}
