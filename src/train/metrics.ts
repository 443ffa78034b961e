/**
 * metrics.jsonl: one JSON object per optimizer step ({type:"train", step, loss, lr, grad_norm, tokens_per_s,
 * elapsed_s}) and per evaluation ({type:"eval", step, val_loss, val_perplexity, tokens, and with --metric exact-match
 * exact_match, token_accuracy and samples: [{prompt, prediction, reference}] for the first validation rows}). Preference tuning adds the pair metrics to both (TRL's names, with "val_" in
 * evaluations): rewards_accuracy, rewards_margin, rewards_chosen, rewards_rejected, logps_chosen, logps_rejected
 * and preference_accuracy; its val_perplexity is null (the loss is not a token loss). Appended line by line,
 * so a killed run keeps every completed step; a resumed run first drops the lines after its checkpoint's step.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../io/atomic.ts";
import type { PreferenceMetrics } from "./objective.ts";
import type { EvalSample } from "./task-metric.ts";
import type { TrainEvent } from "./trainer.ts";

/** One metrics.jsonl row (the report reads the same type back). */
export interface MetricRow {
  type: "train" | "eval";
  step: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens_per_s?: number;
  elapsed_s?: number;
  val_loss?: number;
  val_perplexity?: number;
  /** eval: label tokens scored. */
  tokens?: number;
  /** eval with --metric exact-match: shares in [0, 1]. */
  exact_match?: number;
  token_accuracy?: number;
  /** eval with --metric exact-match: the first validation prompts and the completions generated for them. */
  samples?: EvalSample[];
  /** Preference tuning (train rows; eval rows carry the same with "val_"): see PreferenceMetrics. */
  rewards_accuracy?: number;
  rewards_margin?: number;
  rewards_chosen?: number;
  rewards_rejected?: number;
  logps_chosen?: number;
  logps_rejected?: number;
  preference_accuracy?: number;
  val_rewards_accuracy?: number;
  val_rewards_margin?: number;
  val_rewards_chosen?: number;
  val_rewards_rejected?: number;
  val_logps_chosen?: number;
  val_logps_rejected?: number;
  val_preference_accuracy?: number;
}

/** The metrics.jsonl fields of preference metrics, prefixed ("" for steps, "val_" for evaluations). */
export function preferenceFields(m: PreferenceMetrics, prefix: "" | "val_"): Partial<MetricRow> {
  return {
    [`${prefix}rewards_accuracy`]: m.rewardAccuracy,
    [`${prefix}rewards_margin`]: m.rewardMargin,
    [`${prefix}rewards_chosen`]: m.chosenReward,
    [`${prefix}rewards_rejected`]: m.rejectedReward,
    [`${prefix}logps_chosen`]: m.chosenLogp,
    [`${prefix}logps_rejected`]: m.rejectedLogp,
    [`${prefix}preference_accuracy`]: m.preferenceAccuracy,
  };
}

export class MetricsLog {
  constructor(readonly path: string) {}

  /** Keeps only the lines of steps ≤ step (resume), or nothing (fresh run). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, "utf8")
      .split("\n")
      .filter((line) => {
        if (line.trim() === "") return false;
        try {
          return (JSON.parse(line) as { step?: number }).step! <= step;
        } catch {
          return false;
        }
      });
    writeFileAtomic(this.path, kept.map((l) => `${l}\n`).join(""));
  }

  record(e: TrainEvent): void {
    let row: MetricRow | null = null;
    if (e.type === "step") {
      row = {
        type: "train",
        step: e.step,
        loss: e.loss,
        lr: e.lr,
        grad_norm: e.gradNorm,
        tokens_per_s: e.tokensPerS,
        elapsed_s: e.elapsedS,
        ...(e.preference ? preferenceFields(e.preference, "") : {}),
      };
    } else if (e.type === "eval") {
      row = { type: "eval", step: e.step, val_loss: e.valLoss, val_perplexity: e.valPerplexity, tokens: e.tokens };
      if (e.exactMatch !== undefined) row.exact_match = e.exactMatch;
      if (e.tokenAccuracy !== undefined) row.token_accuracy = e.tokenAccuracy;
      if (e.samples) row.samples = e.samples;
      if (e.preference) Object.assign(row, preferenceFields(e.preference, "val_"));
    }
    if (row) appendFileSync(this.path, `${JSON.stringify(row)}\n`);
  }
}
