/**
 * `node --import tsx bench/preference.ts`: a DPO step against a supervised (SFT) step over the same tokens, in one
 * run, interleaved round by round (medians): a random model of a bench shape with a LoRA on q,k,v,o, P pairs of
 * T-token sequences (2P rows: chosen, then rejected; the second half of each row is the completion), and the same
 * 2P rows as an SFT batch. A DPO step is the adapter-off reference forward, the training forward, the row
 * rescaling of the head's gradient and the backward (train/preference-objective.ts); an SFT step is forward +
 * backward. Optimizer updates are left out of both (identical work). Prints each median and the ratio
 * (goal: ≤ 2.2×), of wall time and of CPU time (user + system of all threads: less disturbed by other
 * processes). Options: --shape=smollm135 --pairs=2 --t=256 --rounds=5 (LORATUNE_THREADS sets the threads).
 */

import { makeRandomModel } from "../src/bench/random-model.ts";
import { shapeConfig } from "../src/bench/shapes.ts";
import type { PreferencePair } from "../src/data/preference.ts";
import { makePreferenceBatches } from "../src/data/preference-batch.ts";
import { getKernels } from "../src/kernels/index.ts";
import { attachLora, loraParams } from "../src/lora/adapter.ts";
import { defaultLoraConfig } from "../src/lora/config.ts";
import { allocateActivations } from "../src/model/activations.ts";
import { Rng } from "../src/tensor/rng.ts";
import { zeroGrads } from "../src/tensor/trainable.ts";
import { SftObjective } from "../src/train/objective.ts";
import { preferenceStep } from "../src/train/preference-objective.ts";

const opt = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const shape = opt("shape", "smollm135");
const [P, T, rounds] = [Number(opt("pairs", "2")), Number(opt("t", "256")), Number(opt("rounds", "5"))];
const k = getKernels();
const config = shapeConfig(shape);
const model = makeRandomModel(k, config, "f32", 1, T);
const rng = new Rng(2);
attachLora(
  model,
  defaultLoraConfig({ r: 16, loraAlpha: 32, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"] }),
  () => rng.next(),
);
const params = loraParams(model);
for (const p of params)
  if (p.name.includes("lora_B")) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.01 * (rng.next() - 0.5);

const ids = () => Array.from({ length: T / 2 }, () => 1 + rng.nextInt(config.vocabSize - 1));
const side = (prompt: number[]) => {
  const c = ids();
  return { ids: [...prompt, ...c], labels: [...prompt.map(() => -100), ...c] };
};
const pairs: PreferencePair[] = Array.from({ length: P }, () => {
  const prompt = ids();
  return { chosen: side(prompt), rejected: side(prompt) };
});
const batch = makePreferenceBatches(pairs, { batchSize: P, seqLen: T })[0]!;
const acts = allocateActivations(model, 2 * P, T, {});
const sft = new SftObjective(
  [pairs[0]!.chosen],
  null,
  { batchSize: 2 * P, seqLen: T, pack: false, shuffle: false, seed: 0 },
  0,
);
const pref = { method: "dpo" as const, beta: 0.1, labelSmoothing: 0, orpoLambda: 0.1 };

/** Wall and CPU (user + system, all threads) milliseconds of one step; CPU time is less disturbed by other processes. */
const time = (fn: () => void) => {
  zeroGrads(params);
  const t = performance.now();
  const c = process.cpuUsage();
  fn();
  const u = process.cpuUsage(c);
  return { wall: performance.now() - t, cpu: (u.user + u.system) / 1000 };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sftMs: number[] = [];
const dpoMs: number[] = [];
const sftCpu: number[] = [];
const dpoCpu: number[] = [];
for (let r = 0; r < rounds + 1; r++) {
  const s = time(() => sft.step(k, model, acts, [batch], null));
  const d = time(() => preferenceStep(k, model, acts, [batch], pref, null));
  if (r === 0) continue; // warm-up
  sftMs.push(s.wall);
  dpoMs.push(d.wall);
  sftCpu.push(s.cpu);
  dpoCpu.push(d.cpu);
}
const tokens = 2 * P * T;
console.log(
  `${shape}, LoRA q,k,v,o r16, ${P} pairs = ${2 * P} rows × ${T} tokens (${tokens} tokens), ${k.name} kernels`,
);
console.log(
  `SFT step (forward + backward): ${median(sftMs).toFixed(0)} ms (${sftMs.map((x) => x.toFixed(0)).join(" ")})`,
);
console.log(
  `DPO step (reference forward + forward + backward): ${median(dpoMs).toFixed(0)} ms (${dpoMs.map((x) => x.toFixed(0)).join(" ")})`,
);
console.log(`DPO / SFT: ${(median(dpoMs) / median(sftMs)).toFixed(2)}× wall (goal ≤ 2.2×)`);
console.log(
  `CPU time: SFT ${median(sftCpu).toFixed(0)} ms, DPO ${median(dpoCpu).toFixed(0)} ms, DPO / SFT ${(median(dpoCpu) / median(sftCpu)).toFixed(2)}×`,
);
