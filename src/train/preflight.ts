/**
 * Checks run before training starts, catching settings and data that would train badly or not at all, each
 * with the fix. Pure functions over what the training job has already loaded (model config, LoRA config,
 * tokenizer, detected row shapes, encoded examples and dataset stats); `reportPreflight` throws the first
 * error as a LoratuneError and hands warnings to a callback.
 *
 * train() makes one pass, each check once, as soon as what it reads is known:
 *   - `checkSeqLen` once config.json is read, before the model is loaded;
 *   - `checkChatTemplate` as each data file's shape is detected (readDataset's onShape), before its rows are
 *     encoded (encoding conversations needs the template);
 *   - `checksAfterReading` (targets, labels, EOS) on the encoded training data.
 * `preflight` runs every check at once, on data already read.
 *
 *   seq_len_too_long      --seq-len above the model's max_position_embeddings               error
 *   no_labels             no token of the training set carries loss                         error
 *   rows_dropped          rows whose every label was cut off by truncation                  warning
 *   truncated             rows cut to --seq-len                                             warning
 *   no_eos_token          neither the tokenizer nor config.json names an EOS token          warning
 *   eos_not_trained       examples whose labels never contain EOS: the model won't stop     warning
 *   eos_masked            EOS ends a trained span but its own label is -100 (the classic
 *                         pad_token == eos_token collator bug in pre-tokenized data)        warning
 *   targets_match_nothing LoRA target_modules match no linear layer                         error
 *   target_unused         one entry of target_modules matches nothing (typo?)               warning
 *   layers_out_of_range   layers_to_transform names layers the model does not have          warning
 *   no_chat_template      a messages dataset and a tokenizer without a chat template        error
 *
 * Padding itself never hides EOS here: the batcher masks padding by position, not by id, so pad_token ==
 * eos_token is only a problem when the data arrive with EOS already masked (eos_masked).
 */
import { countTargets } from "../data/batch.ts";
import type { DatasetStats } from "../data/dataset.ts";
import { type Example, IGNORE } from "../data/encode.ts";
import type { RowShape } from "../data/shapes.ts";
import { type ErrorCode, LoratuneError } from "../errors.ts";
import { type LoraConfig, matchesTarget } from "../lora/config.ts";
import type { ModelConfig } from "../model/config.ts";
import { blockLinearModules, defaultTargetModules } from "../model/specs.ts";
import type { SpecialToken } from "../tokenizer/tokenizer.ts";
import { closestMatch } from "../util/closest.ts";

export interface PreflightIssue {
  level: "error" | "warning";
  /** Stable name of the check (see the table above). */
  check: string;
  /** What is wrong, then how to fix it. */
  message: string;
  /** The LoratuneError code an error is thrown with. */
  errorCode: ErrorCode;
}

/** The parts of a Tokenizer the checks read (a Tokenizer fits; tests may pass a plain object). */
export interface PreflightTokenizer {
  eos: SpecialToken | null;
  pad: SpecialToken | null;
  stopIds: number[];
  chatTemplate: string | null;
}

export interface PreflightInput {
  model: ModelConfig;
  /** null for full fine-tuning. */
  lora: LoraConfig | null;
  tokenizer: PreflightTokenizer | null;
  seqLen: number;
  /** The training examples (after truncation) and the stats of the dataset they came from. */
  examples: Example[];
  stats: DatasetStats;
  /** Names the data in messages (e.g. the --data value). */
  dataName: string;
}

const issue = (level: PreflightIssue["level"], check: string, errorCode: ErrorCode, message: string) => ({
  level,
  check,
  errorCode,
  message,
});

const errorsFirst = (all: PreflightIssue[]) => [
  ...all.filter((i) => i.level === "error"),
  ...all.filter((i) => i.level === "warning"),
];

/** Every check at once, errors first. */
export function preflight(p: PreflightInput): PreflightIssue[] {
  return errorsFirst([
    ...checkSeqLen(p.seqLen, p.model),
    ...checkChatTemplate(Object.values(p.stats.shapes), p.tokenizer, p.dataName),
    ...checksAfterReading(p),
  ]);
}

/** The checks that need the encoded training data (and the LoRA targets, listed with them), errors first. */
export function checksAfterReading(p: PreflightInput): PreflightIssue[] {
  return errorsFirst([
    ...(p.lora ? checkTargets(p.lora, p.model) : []),
    ...checkLabels(p.examples, p.stats, p.dataName, p.seqLen),
    ...checkEos(p.examples, p.tokenizer, p.model, p.seqLen, p.dataName),
  ]);
}

/** Throws the first error (all errors listed in its message); passes each warning to `warn`. */
export function reportPreflight(issues: PreflightIssue[], warn: (message: string) => void): void {
  const errors = issues.filter((i) => i.level === "error");
  for (const w of issues) if (w.level === "warning") warn(`warning: ${w.message}`);
  if (errors.length > 0) {
    throw new LoratuneError(errors[0]!.errorCode, errors.map((e) => e.message).join("\n"));
  }
}

export function checkSeqLen(seqLen: number, model: ModelConfig): PreflightIssue[] {
  if (seqLen <= model.maxPositions) return [];
  return [
    issue(
      "error",
      "seq_len_too_long",
      "ERR_USAGE",
      `--seq-len ${seqLen} exceeds the model's max_position_embeddings (${model.maxPositions}); positions past it ` +
        `were never trained. Fix: pass --seq-len ${model.maxPositions} or lower.`,
    ),
  ];
}

/** Conversations ("messages", ShareGPT) need a tokenizer with a chat template. */
export function checkChatTemplate(
  shapes: RowShape[],
  tok: PreflightTokenizer | null,
  dataName: string,
): PreflightIssue[] {
  const chat = shapes.filter((s) => s === "messages" || s === "sharegpt");
  if (chat.length === 0 || tok?.chatTemplate) return [];
  // Without a tokenizer no text row can be used, so only advice that works then is given.
  const message =
    tok === null
      ? `${dataName}: the dataset has "${chat[0]}" rows but the model has no tokenizer.json, so text cannot be ` +
        "tokenized. Fix: add the model's tokenizer.json (and tokenizer_config.json) to its directory, or use " +
        'pre-tokenized rows {"input_ids", "labels"?}.'
      : `${dataName}: the dataset has "${chat[0]}" rows but the tokenizer has no chat_template, so conversations ` +
        "cannot be rendered. Fix: pass --chat-template <file> (a Jinja template, or a tokenizer_config.json " +
        'holding one), or convert the rows to {"prompt","completion"}.';
  return [issue("error", "no_chat_template", "ERR_TOKENIZER", message)];
}

/** Linear module names of the model's blocks (HF names without ".weight"), in block order. */
export function linearModuleNames(model: ModelConfig): string[] {
  return blockLinearModules(model).map((m) => m.name);
}

export function checkTargets(lora: LoraConfig, model: ModelConfig): PreflightIssue[] {
  const modules = blockLinearModules(model);
  const names = modules.map((m) => m.name);
  const short = [...new Set(names.map((n) => n.split(".").at(-1)!))];
  const out: PreflightIssue[] = [];
  const listed = `this model's linear layers are ${short.join(", ")}`;
  const fix = defaultTargetModules(model).join(",");
  if (!modules.some((m) => matchesTarget(lora, m.name, m.layer))) {
    out.push(
      issue(
        "error",
        "targets_match_nothing",
        "ERR_ADAPTER_CONFIG",
        `LoRA target_modules ${JSON.stringify(lora.targetModules)}${lora.layersToTransform ? ` (layers ${lora.layersToTransform.join(",")})` : ""} ` +
          `match no linear layer, so there would be nothing to train; ${listed}. Fix: --targets ${fix} ` +
          "(or all-linear).",
      ),
    );
  } else if (Array.isArray(lora.targetModules)) {
    for (const t of lora.targetModules) {
      if (names.some((n) => n === t || n.endsWith(`.${t}`))) continue;
      const near = closestMatch(t, short, 2);
      out.push(
        issue(
          "warning",
          "target_unused",
          "ERR_ADAPTER_CONFIG",
          `LoRA target "${t}" matches no linear layer and is ignored${near ? ` (did you mean "${near}"?)` : ""}; ${listed}.`,
        ),
      );
    }
  }
  const bad = (lora.layersToTransform ?? []).filter((i) => i >= model.numLayers);
  if (bad.length > 0) {
    out.push(
      issue(
        "warning",
        "layers_out_of_range",
        "ERR_ADAPTER_CONFIG",
        `layers ${bad.join(", ")} of --layers do not exist (the model has layers 0..${model.numLayers - 1}) and are ignored.`,
      ),
    );
  }
  return out;
}

export function checkLabels(
  examples: Example[],
  stats: DatasetStats,
  dataName: string,
  seqLen: number,
): PreflightIssue[] {
  const out: PreflightIssue[] = [];
  const labels = examples.reduce((n, ex) => n + countTargets(ex), 0);
  if (labels === 0) {
    out.push(
      issue(
        "error",
        "no_labels",
        "ERR_DATA",
        `${dataName}: every label of the training examples is masked (-100), so there is nothing to learn. Fix: ` +
          "check that completions/assistant turns are present and survive truncation (raise --seq-len), or pass " +
          "--train-on-prompt.",
      ),
    );
  }
  if (stats.droppedNoLabels > 0) {
    out.push(
      issue(
        "warning",
        "rows_dropped",
        "ERR_DATA",
        `${dataName}: ${stats.droppedNoLabels} of ${stats.rows} rows were dropped because truncation to ${seqLen} ` +
          "tokens left them no label token. Fix: raise --seq-len or shorten the prompts.",
      ),
    );
  }
  if (stats.truncated > 0) {
    out.push(
      issue(
        "warning",
        "truncated",
        "ERR_DATA",
        `${dataName}: ${stats.truncated} of ${stats.rows} rows are longer than --seq-len ${seqLen} and were cut; ` +
          "their endings (and EOS) are not trained. Fix: raise --seq-len if the model allows it.",
      ),
    );
  }
  return out;
}

/**
 * EOS in the labels: an example that is not cut at seqLen should train EOS somewhere (usually last), or the
 * model never learns to stop. An EOS that closes a trained span but is itself masked is the pad == EOS bug.
 */
export function checkEos(
  examples: Example[],
  tok: PreflightTokenizer | null,
  model: ModelConfig,
  seqLen: number,
  dataName: string,
): PreflightIssue[] {
  const eosIds = new Set(tok ? tok.stopIds : model.eosTokenIds);
  if (eosIds.size === 0) {
    return [
      issue(
        "warning",
        "no_eos_token",
        "ERR_TOKENIZER",
        "neither the tokenizer (eos_token) nor config.json (eos_token_id) names an end-of-sequence token, so the " +
          "model cannot learn to stop. Fix: set eos_token in tokenizer_config.json or eos_token_id in config.json.",
      ),
    ];
  }
  let complete = 0;
  let untrained = 0;
  let firstUntrained = -1;
  let masked = 0;
  let firstMasked = -1;
  examples.forEach((ex, i) => {
    const { trainsEos, masksEos } = eosUse(ex, eosIds);
    if (masksEos) {
      masked++;
      if (firstMasked < 0) firstMasked = i;
    }
    if (ex.ids.length >= seqLen || countTargets(ex) === 0) return; // may have been cut: EOS legitimately gone
    complete++;
    if (!trainsEos) {
      untrained++;
      if (firstUntrained < 0) firstUntrained = i;
    }
  });
  const out: PreflightIssue[] = [];
  const eosName = tok?.eos ? `${JSON.stringify(tok.eos.text)} (id ${tok.eos.id})` : `id ${[...eosIds].join("/")}`;
  if (masked > 0) {
    const padIsEos = tok?.pad != null && tok.eos != null && tok.pad.id === tok.eos.id;
    out.push(
      issue(
        "warning",
        "eos_masked",
        "ERR_DATA",
        `${dataName}: in ${masked} examples (first: example ${firstMasked}) EOS ${eosName} ends a trained span but ` +
          `its label is -100, so the model will not learn to stop${padIsEos ? "; pad_token equals eos_token, and the data were likely prepared by a collator that masks every pad id" : ""}. ` +
          "Fix: keep EOS as a label (loratune masks padding by position, never by id); for pre-tokenized rows " +
          "set labels[t] = input_ids[t] at the EOS.",
      ),
    );
  }
  if (untrained > 0) {
    out.push(
      issue(
        "warning",
        "eos_not_trained",
        "ERR_DATA",
        `${dataName}: ${untrained} of ${complete} untruncated examples (first: example ${firstUntrained}) have no ` +
          `EOS ${eosName} among their labels, so the model will not learn to stop generating. Fix: end each ` +
          "completion with EOS (loratune appends it to text, completion and chat rows; pre-tokenized rows must " +
          "include it in input_ids and labels).",
      ),
    );
  }
  return out;
}

/** Whether an example trains an EOS label, and whether an EOS right after a trained token is masked. */
function eosUse(ex: Example, eosIds: Set<number>): { trainsEos: boolean; masksEos: boolean } {
  let trainsEos = false;
  let masksEos = false;
  for (let t = 1; t < ex.ids.length; t++) {
    if (!eosIds.has(ex.ids[t]!)) continue;
    if (ex.labels[t] !== IGNORE) trainsEos = true;
    else if (ex.labels[t - 1] !== IGNORE && t - 1 > 0) masksEos = true;
  }
  return { trainsEos, masksEos };
}
