/**
 * Preflight checks (src/train/preflight.ts): each training pitfall is reported with its fix, and clean data
 * and settings report nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type DatasetStats, readDataset } from "../../src/data/dataset.ts";
import type { Example } from "../../src/data/encode.ts";
import type { RowShape } from "../../src/data/shapes.ts";
import { isLoratuneError } from "../../src/errors.ts";
import { defaultLoraConfig } from "../../src/lora/config.ts";
import {
  checkChatTemplate,
  checkEos,
  checkLabels,
  checkTargets,
  linearModuleNames,
  type PreflightInput,
  type PreflightIssue,
  type PreflightTokenizer,
  preflight,
  reportPreflight,
} from "../../src/train/preflight.ts";
import { tinyConfig } from "../helpers/random-model.ts";
import { chatmlTokenizer, tempDir, writeJsonl } from "./tokenizer-helpers.ts";

const model = tinyConfig({ eos_token_id: 2 }); // 2 layers, vocabulary 37, 64 positions

function stats(over: Partial<DatasetStats> = {}): DatasetStats {
  return {
    rows: 2,
    tokens: 10,
    truncated: 0,
    labelTokens: 8,
    droppedNoLabels: 0,
    eosInserted: 0,
    shapes: { "d.jsonl": "tokens" },
    ...over,
  };
}

const ids = (...xs: number[]) => xs;
/** Pre-tokenized example: every token after the first trained unless listed in `masked`. */
function example(tokens: number[], masked: number[] = []): Example {
  return { ids: tokens, labels: tokens.map((id, t) => (t === 0 || masked.includes(t) ? -100 : id)) };
}

function input(over: Partial<PreflightInput> = {}): PreflightInput {
  return {
    model,
    lora: defaultLoraConfig(),
    tokenizer: null,
    seqLen: 32,
    examples: [example(ids(5, 6, 7, 2)), example(ids(8, 9, 2))],
    stats: stats(),
    dataName: "d.jsonl",
    ...over,
  };
}

const checks = (issues: PreflightIssue[]) => issues.map((i) => `${i.level}:${i.check}`);

test("clean pre-tokenized data and default LoRA settings: no issues", () => {
  assert.deepEqual(preflight(input()), []);
});

test("sequence length above max_position_embeddings is an error with the largest allowed value", () => {
  const issues = preflight(input({ seqLen: 65 }));
  assert.deepEqual(checks(issues), ["error:seq_len_too_long"]);
  assert.match(issues[0]!.message, /--seq-len 65 exceeds .*\(64\).*pass --seq-len 64 or lower/);
  assert.throws(
    () => reportPreflight(issues, () => {}),
    (e: unknown) => isLoratuneError(e) && e.code === "ERR_USAGE" && e.exitCode === 2,
  );
});

test("LoRA targets: none matching is an error; a typo is a warning with a suggestion; missing layers warned", () => {
  const none = checkTargets(defaultLoraConfig({ targetModules: ["attn"] }), model);
  assert.deepEqual(checks(none), ["error:targets_match_nothing"]);
  assert.match(none[0]!.message, /\["attn"\] match no linear layer.*q_proj, k_proj, v_proj, o_proj, gate_proj/);
  const regex = checkTargets(defaultLoraConfig({ targetModules: ".*\\.attn" }), model);
  assert.deepEqual(checks(regex), ["error:targets_match_nothing"]);
  const typo = checkTargets(defaultLoraConfig({ targetModules: ["q_proj", "vproj"] }), model);
  assert.deepEqual(checks(typo), ["warning:target_unused"]);
  assert.match(typo[0]!.message, /"vproj" matches no linear layer.*did you mean "v_proj"/);
  const layers = checkTargets(defaultLoraConfig({ layersToTransform: [1, 5] }), model);
  assert.deepEqual(checks(layers), ["warning:layers_out_of_range"]);
  assert.match(layers[0]!.message, /layers 5 of --layers do not exist \(the model has layers 0\.\.1\)/);
  const outOfRangeOnly = checkTargets(defaultLoraConfig({ layersToTransform: [4] }), model);
  assert.deepEqual(checks(outOfRangeOnly), ["error:targets_match_nothing", "warning:layers_out_of_range"]);
  assert.deepEqual(checkTargets(defaultLoraConfig({ targetModules: "all-linear" }), model), []);
  assert.equal(linearModuleNames(model).length, 2 * 7);
  assert.equal(preflight(input({ lora: null })).length, 0, "full fine-tuning has no targets to check");
});

test("all labels masked is an error; dropped and truncated rows are warnings", () => {
  const masked = [example(ids(5, 6, 7), [1, 2]), example(ids(8, 9), [1])];
  const issues = checkLabels(masked, stats({ droppedNoLabels: 3, truncated: 4, rows: 9 }), "d.jsonl", 16);
  assert.deepEqual(checks(issues), ["error:no_labels", "warning:rows_dropped", "warning:truncated"]);
  assert.match(issues[0]!.message, /every label .* is masked.*--train-on-prompt/);
  assert.match(issues[1]!.message, /3 of 9 rows were dropped .* 16 tokens/);
  assert.match(issues[2]!.message, /4 of 9 rows are longer than --seq-len 16/);
});

test("EOS: untrained in complete examples warns; cut examples are exempt; unknown EOS warns", () => {
  const noEos = [example(ids(5, 6, 7)), example(ids(8, 9, 2)), example(ids(3, 4, 5, 6))];
  const issues = checkEos(noEos, null, model, 32, "d.jsonl");
  assert.deepEqual(checks(issues), ["warning:eos_not_trained"]);
  assert.match(issues[0]!.message, /2 of 3 untruncated examples \(first: example 0\) have no EOS id 2/);
  assert.deepEqual(checkEos(noEos, null, model, 4, "d.jsonl").length, 1, "the 4-token example may be cut");
  assert.deepEqual(checkEos([example(ids(5, 6, 7))], null, model, 3, "d.jsonl"), [], "cut at seqLen: exempt");
  const noEosKnown = checkEos(noEos, null, tinyConfig({}), 32, "d.jsonl");
  assert.deepEqual(checks(noEosKnown), ["warning:no_eos_token"]);
});

test("EOS masked after a trained span (pad == EOS collator bug) warns and names the cause", () => {
  const tok: PreflightTokenizer = {
    eos: { text: "</s>", id: 2 },
    pad: { text: "</s>", id: 2 },
    stopIds: [2],
    chatTemplate: null,
  };
  const data = [example(ids(1, 5, 6, 2), [3]), example(ids(1, 7, 2), [2])];
  const issues = checkEos(data, tok, model, 32, "d.jsonl");
  assert.deepEqual(checks(issues), ["warning:eos_masked", "warning:eos_not_trained"]);
  assert.match(issues[0]!.message, /in 2 examples .* EOS "<\/s>" \(id 2\) ends a trained span but its label is -100/);
  assert.match(issues[0]!.message, /pad_token equals eos_token/);
  const distinctPad = checkEos(data, { ...tok, pad: { text: "<pad>", id: 0 } }, model, 32, "d.jsonl");
  assert.doesNotMatch(distinctPad[0]!.message, /pad_token equals/);
  // A masked EOS after a masked turn (a user turn's end) is normal, not a warning.
  const userTurnEnd = [example(ids(1, 5, 2, 6, 2), [1, 2])];
  assert.deepEqual(checkEos(userTurnEnd, tok, model, 32, "d.jsonl"), []);
});

test("messages without a chat template is an error before any row is rendered", () => {
  const tok = chatmlTokenizer({ chat_template: null });
  const issues = preflight(input({ tokenizer: tok, stats: stats({ shapes: { "chat.jsonl": "messages" } }) }));
  assert.deepEqual(checks(issues).slice(0, 1), ["error:no_chat_template"]);
  assert.match(issues[0]!.message, /"messages" rows but the tokenizer has no chat_template.*--chat-template/);
  const noTok = preflight(input({ stats: stats({ shapes: { "chat.jsonl": "messages" } }) }));
  assert.match(noTok[0]!.message, /the model has no tokenizer\.json/);
  const { dir, cleanup } = tempDir("lt-preflight-shapes-");
  try {
    const chat = writeJsonl(dir, "chat.jsonl", ["", { messages: [{ role: "user", content: "hi" }] }, "not json"]);
    const text = writeJsonl(dir, "text.jsonl", [{ text: "hi" }]);
    // readDataset reports each file's shape before encoding its rows (train() checks the template there): the
    // conversation is refused before it is rendered, and before the bad line 3 is read.
    const seen: RowShape[] = [];
    const onShape = (_file: string, shape: RowShape) => {
      seen.push(shape);
      reportPreflight(checkChatTemplate([shape], tok, chat), () => {});
    };
    assert.throws(
      () => readDataset([text, chat], tok, { onShape }),
      (e: unknown) => isLoratuneError(e) && e.code === "ERR_TOKENIZER" && /no chat_template/.test(e.message),
    );
    assert.deepEqual(seen, ["text", "messages"]);
  } finally {
    cleanup();
  }
});

test("real datasets: ChatML conversations train EOS; text without EOS is flagged; reportPreflight warns", () => {
  const { dir, cleanup } = tempDir("lt-preflight-");
  try {
    const tok = chatmlTokenizer();
    const chat = writeJsonl(dir, "chat.jsonl", [
      {
        messages: [
          { role: "user", content: "Hello there" },
          { role: "assistant", content: "Hello world!" },
        ],
      },
    ]);
    const seqLen = 64;
    const a = readDataset(chat, tok, { seqLen });
    const base = { model: tinyConfig({ max_position_embeddings: 128 }), lora: defaultLoraConfig(), seqLen };
    const chatIssues = preflight({ ...base, tokenizer: tok, examples: a.examples, stats: a.stats, dataName: chat });
    assert.deepEqual(chatIssues, []);
    const text = writeJsonl(dir, "text.jsonl", [{ text: "The quick brown fox." }, { text: "Hello world!" }]);
    const b = readDataset(text, tok, { seqLen, textEos: false });
    const textIssues = preflight({ ...base, tokenizer: tok, examples: b.examples, stats: b.stats, dataName: text });
    assert.deepEqual(checks(textIssues), ["warning:eos_not_trained"]);
    const warnings: string[] = [];
    reportPreflight(textIssues, (w) => warnings.push(w));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^warning: .*text\.jsonl: 2 of 2 untruncated examples .*"<\|im_end\|>"/);
  } finally {
    cleanup();
  }
});

test("reportPreflight throws the first error's code with every error listed", () => {
  const issues = preflight(
    input({ seqLen: 100, lora: defaultLoraConfig({ targetModules: ["nope"] }), examples: [example([1, 2], [1])] }),
  );
  assert.deepEqual(checks(issues), ["error:seq_len_too_long", "error:targets_match_nothing", "error:no_labels"]);
  assert.throws(
    () => reportPreflight(issues, () => {}),
    (e: unknown) =>
      isLoratuneError(e) &&
      e.code === "ERR_USAGE" &&
      /--seq-len 100/.test(e.message) &&
      /match no linear layer/.test(e.message) &&
      /every label/.test(e.message),
  );
});

test("no_chat_template: without any tokenizer the advice is only what works (tokenizer.json or pre-tokenized rows)", () => {
  const [none] = checkChatTemplate(["messages"], null, "chat.jsonl");
  assert.match(none!.message, /has no tokenizer\.json.*add the model's tokenizer\.json.*pre-tokenized rows/);
  assert.doesNotMatch(none!.message, /--chat-template|prompt","completion/);
  const tok = { eos: null, pad: null, stopIds: [], chatTemplate: null };
  const [noTemplate] = checkChatTemplate(["sharegpt"], tok, "chat.jsonl");
  assert.match(noTemplate!.message, /no chat_template.*--chat-template <file>/);
});
