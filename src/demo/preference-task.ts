/**
 * The preference demo's data (`loratune demo --dpo`): the card task of task.ts as preference pairs. For each
 * sentence the chosen completion is the right card and the rejected one the same card with another town (drawn
 * from the world's towns, seeded):
 *
 *   prompt:    "Sentence: Mira the baker lives in Oakford and owns a red kettle.\nCard:\n"
 *   chosen:    "name: Mira, job: baker, town: Oakford, item: kettle"
 *   rejected:  "name: Mira, job: baker, town: Elmvale, item: kettle"
 *
 * The base model never saw the card format and, measured on the held-out pairs, prefers either town about as
 * often (its own preference, log p(chosen) > log p(rejected), is what the demo reports: near chance). Other
 * corruptions were measured and rejected for the demo because the base model is far from chance on them (it
 * prefers cards with two fields swapped 70-97% of the time). Preferring the right town needs it copied from the
 * sentence, which DPO teaches from the pairs alone, without a target to imitate.
 */
import type { Rng } from "../tensor/rng.ts";
import { formatAnswer, generateTask, type PromptRow, parseAnswer } from "./task.ts";
import { demoRng, pickOther, TOWNS } from "./world.ts";

/** A {"prompt","chosen","rejected"} row. */
export interface PreferenceRow {
  prompt: string;
  chosen: string;
  rejected: string;
}

/** The card with another town than the sentence's. */
export function otherTownCard(row: PromptRow, rng: Rng): string {
  const f = parseAnswer(row.completion);
  if (!f) throw new Error(`demo: not a card: ${row.completion}`);
  return formatAnswer({ ...f, town: pickOther(rng, TOWNS, f.town) });
}

/** The task's seeded train/test split as preference rows (same prompts as the supervised demo's). */
export function generatePreferenceTask(opts: { seed: number; trainSize: number; testSize: number }): {
  train: PreferenceRow[];
  test: PreferenceRow[];
} {
  const split = generateTask(opts);
  const rng = demoRng(opts.seed, "preference");
  const toPair = (r: PromptRow): PreferenceRow => ({
    prompt: r.prompt,
    chosen: r.completion,
    rejected: otherTownCard(r, rng),
  });
  return { train: split.train.map(toPair), test: split.test.map(toPair) };
}
