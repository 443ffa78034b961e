/**
 * npm run make-demo-model [-- --steps N --out DIR]: rebuilds models/demo from the seed (corpus, tokenizer,
 * pretraining). Deterministic for a given seed, kernel backend and thread count.
 */
import { parseArgs } from "node:util";
import { DEMO_MODEL_DEFAULTS, makeDemoModel } from "../src/demo/make-model.ts";
import { DEMO_MODEL_DIR } from "../src/model/load.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: DEMO_MODEL_DIR },
    steps: { type: "string", default: String(DEMO_MODEL_DEFAULTS.steps) },
    passages: { type: "string", default: String(DEMO_MODEL_DEFAULTS.passages) },
    seed: { type: "string", default: String(DEMO_MODEL_DEFAULTS.seed) },
  },
});
const started = performance.now();
let last = 0;
await makeDemoModel({
  ...DEMO_MODEL_DEFAULTS,
  out: values.out,
  steps: Number(values.steps),
  passages: Number(values.passages),
  seed: Number(values.seed),
  onMessage: (t) => console.log(t),
  onEvent: (e) => {
    if (e.type === "step" && (performance.now() - last > 10000 || e.step === e.totalSteps)) {
      last = performance.now();
      console.log(
        `step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${Math.round(e.tokensPerS)} tok/s`,
      );
    }
    if (e.type === "eval") console.log(`  eval at step ${e.step}: val loss ${e.valLoss.toFixed(4)}`);
  },
});
console.log(`wrote ${values.out} in ${((performance.now() - started) / 60000).toFixed(1)} min`);
