/**
 * The data side of `train --method dpo|ipo|orpo`: preference pairs read from --data (and --val, or a --val-split
 * share of the pairs, drawn as supervised runs draw rows), the options that do not apply refused before anything
 * is read, and the pairs also seen as a flat Dataset (chosen and rejected sequences) so that the summary, the
 * preflight checks and the resume fingerprint treat them like any training data.
 */
import type { Dataset, DatasetStats } from "../data/dataset.ts";
import { validationFiles } from "../data/dataset-folder.ts";
import { type PreferencePair, readPreferenceDataset } from "../data/preference.ts";
import { LoratuneError } from "../errors.ts";
import { Rng } from "../tensor/rng.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { PreferenceMethod } from "../train/preference-loss.ts";
import { PreferenceObjective } from "../train/preference-objective.ts";
import type { TrainSettings } from "../train/trainer.ts";

/** What a preference run needs of the options (a subset of TrainRunOptions). */
export interface PreferenceRunOptions {
  method: PreferenceMethod;
  beta: number;
  labelSmoothing: number;
  orpoLambda: number;
  full: boolean;
  /** --modules-to-save: modules trained whole beside the adapter (refused: the reference would keep them). */
  modulesToSave?: string | undefined;
  pack: boolean;
  /** --init: PiSSA and OLoRA replace the base weights by a residual (refused for dpo/ipo). */
  init?: string | undefined;
  metric: string;
  trainOnPrompt: boolean;
  val?: string;
  valSplit: number;
  seqLen: number;
  seed: number;
}

export interface PreferenceData {
  pairs: PreferencePair[];
  valPairs: PreferencePair[] | null;
  /** The pairs' sequences as a Dataset (chosen and rejected of each pair in turn), for summaries and checks. */
  train: Dataset;
  val: Dataset | null;
}

/** Refuses the options that have no meaning for preference pairs, before anything is loaded. */
export function checkPreferenceOptions(o: PreferenceRunOptions): void {
  const bad: [boolean, string][] = [
    [o.full, "--full (the reference is the model with its adapter switched off, so an adapter must train)"],
    [
      Boolean(o.modulesToSave),
      "--modules-to-save (the reference is the model with its adapter off, and modules trained whole would stay on)",
    ],
    [
      o.method !== "orpo" && /^(pissa|olora)/.test(o.init ?? ""),
      `--init ${o.init} (it replaces the base weights by a residual, so the model with its adapter off is not the reference)`,
    ],
    [o.pack, "--pack (each pair's two sequences are compared as whole rows)"],
    [o.metric !== "loss", "--metric exact-match (evaluations report held-out reward and preference accuracy)"],
    [o.trainOnPrompt, "--train-on-prompt (prompt tokens never count in preference tuning)"],
  ];
  const hit = bad.find(([b]) => b);
  if (hit) throw new LoratuneError("ERR_USAGE", `--method ${o.method} cannot be combined with ${hit[1]}`);
}

export function readPreferenceData(o: PreferenceRunOptions, tok: Tokenizer | null, files: string[]): PreferenceData {
  if (tok === null) {
    throw new LoratuneError(
      "ERR_DATA",
      `--method ${o.method} reads text preference rows and needs the model's tokenizer (tokenizer.json)`,
    );
  }
  const all = readPreferenceDataset(files, tok, { seqLen: o.seqLen });
  let pairs = all.pairs;
  let valPairs: PreferencePair[] | null = null;
  const valFiles = validationFiles(o.val, files);
  if (valFiles) valPairs = readPreferenceDataset(valFiles, tok, { seqLen: o.seqLen }).pairs;
  else if (o.valSplit > 0) {
    const order = pairs.map((_, i) => i);
    const rng = new Rng(o.seed + 1);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const nVal = Math.max(1, Math.round(order.length * o.valSplit));
    if (nVal >= order.length) {
      throw new LoratuneError(
        "ERR_USAGE",
        `--val-split ${o.valSplit} of ${order.length} pair${order.length === 1 ? "" : "s"} leaves no training pairs; lower it, or pass a separate --val file`,
      );
    }
    valPairs = order.slice(0, nVal).map((i) => all.pairs[i]!);
    pairs = order.slice(nVal).map((i) => all.pairs[i]!);
  }
  const stats: DatasetStats = {
    rows: all.stats.rows,
    tokens: all.stats.tokens,
    truncated: all.stats.truncated,
    labelTokens: all.stats.labelTokens,
    droppedNoLabels: all.stats.dropped,
    eosInserted: 0,
    shapes: Object.fromEntries(
      Object.entries(all.stats.shapes).map(([f, s]) => [f, s === "chat" ? "messages" : "prompt_completion"]),
    ),
  };
  const flat = (ps: PreferencePair[]) => ps.flatMap((p) => [p.chosen, p.rejected]);
  const fileInfo = files.map((path) => ({
    path,
    shape: stats.shapes[path] ?? "prompt_completion",
    rows: all.stats.fileRows[path] ?? 0,
  }));
  return {
    pairs,
    valPairs,
    train: { examples: flat(pairs), stats, files: fileInfo },
    val: valPairs ? { examples: flat(valPairs), stats } : null,
  };
}

/** The trainer's objective for a preference run. */
export function preferenceObjective(
  o: PreferenceRunOptions,
  data: PreferenceData,
  s: TrainSettings,
  padId: number,
): PreferenceObjective {
  const pref = { method: o.method, beta: o.beta, labelSmoothing: o.labelSmoothing, orpoLambda: o.orpoLambda };
  return new PreferenceObjective(data.pairs, data.valPairs, s, pref, padId);
}
