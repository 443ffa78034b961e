/** `loratune lr-find`: the learning-rate range test for a given rank and alpha, with a suggested learning rate. */
import type { Command } from "commander";
import { LR_FIND_OPTIONS, type LrFindOptions, lrFind, lrFindJson } from "../api/lr-find.ts";
import { lrText, lrTextChart } from "../report/lr-find.ts";
import { DIVERGE, SMOOTHING, SUGGESTION_RULE } from "../train/lr-range.ts";
import { addOptions } from "./options.ts";

export function registerLrFind(program: Command): void {
  const cmd = program
    .command("lr-find")
    .description("learning-rate range test: loss against an exponentially growing learning rate, and a suggested rate")
    .addHelpText(
      "after",
      `
The model, data and adapter are set up as train sets them up (same options and defaults), then every step uses a
larger learning rate: --start-lr × (--end-lr / --start-lr)^(i / (steps − 1)). The loss is smoothed (moving average,
β = ${SMOOTHING}); the test stops once the smoothed loss exceeds ${DIVERGE}× its minimum. Suggested learning rate:
${SUGGESTION_RULE}. The steepest descent is shown beside it.
--out receives lr-find.json (every point, the suggestion and the settings) and lr-find.html (the chart).

Example:
  loratune lr-find --model demo --data train.jsonl --rank 16 --alpha 32 --targets all-linear --out lr/r16`,
    );
  addOptions(cmd, LR_FIND_OPTIONS);
  cmd.action(async (o: LrFindOptions & { json?: boolean }) => {
    const r = await lrFind(o);
    if (o.json) {
      console.log(JSON.stringify(lrFindJson(r)));
      return;
    }
    const s = r.suggestion;
    console.log(lrTextChart(r.points, s.lr));
    console.log(
      `\n${r.points.length} steps${r.diverged ? " (stopped: the loss diverged)" : ""}; lowest smoothed loss ` +
        `${s.minLoss.toFixed(4)} at lr ${lrText(s.minLossLr)}, steepest descent at ${lrText(s.steepestLr)}`,
    );
    console.log(`suggested learning rate: ${lrText(s.lr)} (${s.rule})`);
    console.log(`lr-find.json and lr-find.html written to ${r.outDir}`);
  });
}
