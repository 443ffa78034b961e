import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeTokenizerDir } from "../../src/demo/train-bpe.ts";
import { renderChat, resolveChatTemplate } from "../../src/tokenizer/chat-template.ts";
import { loadChatTemplateFile } from "../../src/tokenizer/chat-template-file.ts";
import { loadTokenizer } from "../../src/tokenizer/load-tokenizer.ts";
import { readTemplate } from "./tokenizer-chat-models.ts";
import {
  byteLevelTokenizerJson,
  CHATML_TEMPLATE,
  chatmlTokenizer,
  LLAMA2_TEMPLATE,
  llama2Tokenizer,
  tempDir,
} from "./tokenizer-helpers.ts";

const CONV = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is two plus two?" },
  { role: "assistant", content: "Four." },
  { role: "user", content: "And times three?" },
];

test("ChatML template renders as transformers does, with and without the generation prompt", () => {
  const out = renderChat(CHATML_TEMPLATE, CONV, { addGenerationPrompt: true });
  assert.equal(
    out,
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is two plus two?<|im_end|>\n" +
      "<|im_start|>assistant\nFour.<|im_end|>\n<|im_start|>user\nAnd times three?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(renderChat(CHATML_TEMPLATE, CONV), out.slice(0, -"<|im_start|>assistant\n".length));
});

test("Llama-2 template: system folded into the first turn, bos/eos strings from the tokenizer", () => {
  const tok = llama2Tokenizer();
  assert.equal(
    tok.applyChatTemplate(CONV),
    "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is two plus two? [/INST] Four. </s><s>[INST] And times three? [/INST]",
  );
  assert.equal(
    renderChat(LLAMA2_TEMPLATE, CONV.slice(1, 3), { bos_token: "B", eos_token: "E" }),
    "B[INST] What is two plus two? [/INST] Four. E",
  );
  // raise_exception inside the template becomes an ERR_TOKENIZER naming the template's origin.
  assert.throws(
    () => tok.applyChatTemplate([{ role: "assistant", content: "hi" }]),
    (e: Error & { code?: string }) =>
      e.code === "ERR_TOKENIZER" && /mem:llama2\/tokenizer_config\.json: .*roles must alternate/.test(e.message),
  );
});

test("resolveChatTemplate: string, list of named templates, object form, and errors", () => {
  assert.equal(resolveChatTemplate("T", "cfg"), "T");
  assert.equal(resolveChatTemplate(null, "cfg"), null);
  const list = [
    { name: "default", template: "D" },
    { name: "tool_use", template: "U" },
  ];
  assert.equal(resolveChatTemplate(list, "cfg"), "D");
  assert.equal(resolveChatTemplate(list, "cfg", "tool_use"), "U");
  assert.equal(resolveChatTemplate([{ name: "rag", template: "R" }], "cfg"), "R", "a single named template");
  assert.equal(resolveChatTemplate({ default: "D2" }, "cfg"), "D2");
  assert.throws(
    () => resolveChatTemplate(list, "cfg", "nope"),
    /cfg: no chat template named "nope" \(have: default, tool_use\)/,
  );
  assert.throws(
    () =>
      resolveChatTemplate(
        [
          { name: "a", template: "A" },
          { name: "b", template: "B" },
        ],
        "cfg",
      ),
    /none is "default"/,
  );
  assert.throws(() => resolveChatTemplate(42, "cfg"), /must be a string or a list/);
  assert.throws(() => resolveChatTemplate([{ name: "x" }], "cfg"), /must be a string or a list/);
});

test("chat template override from a .jinja or .json file, and from a named list in tokenizer_config.json", () => {
  const { dir, cleanup } = tempDir();
  try {
    const simple = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    writeTokenizerDir(dir, {
      tokenizer: byteLevelTokenizerJson(),
      config: {
        eos_token: "<|im_end|>",
        chat_template: [
          { name: "default", template: CHATML_TEMPLATE },
          { name: "plain", template: simple },
        ],
      },
    });
    assert.equal(loadTokenizer(dir).chatTemplate, CHATML_TEMPLATE);
    assert.equal(loadTokenizer(dir, { chatTemplateName: "plain" }).chatTemplate, simple);
    const jinja = join(dir, "override.jinja");
    writeFileSync(jinja, simple);
    const tok = loadTokenizer(dir, { chatTemplateFile: jinja });
    assert.equal(tok.applyChatTemplate(CONV.slice(1, 3)), "user: What is two plus two?\nassistant: Four.\n");
    const json = join(dir, "chat_template.json");
    writeFileSync(json, JSON.stringify({ chat_template: simple }));
    assert.equal(loadChatTemplateFile(json), simple);
    writeFileSync(json, JSON.stringify({ other: 1 }));
    assert.throws(() => loadChatTemplateFile(json), /no "chat_template" key/);
    assert.throws(() => loadChatTemplateFile(join(dir, "missing.jinja")), /cannot read chat template file/);
    const bad = join(dir, "bad.jinja");
    writeFileSync(bad, "{% for m in messages %}{{ m.content }");
    const badTok = loadTokenizer(dir, { chatTemplateFile: bad });
    assert.throws(() => badTok.applyChatTemplate(CONV), /bad\.jinja: chat template does not parse/);
  } finally {
    cleanup();
  }
});

test("a tokenizer without a chat template says so when asked to render", () => {
  const tok = chatmlTokenizer({ chat_template: null });
  assert.equal(tok.chatTemplate, null);
  assert.throws(() => tok.applyChatTemplate(CONV), /has no chat_template/);
});

test("a model directory's chat template: chat_template.jinja, then chat_template.json, then tokenizer_config.json", () => {
  const { dir, cleanup } = tempDir();
  try {
    const gemma3 = readTemplate("gemma3");
    const simple = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    const config = { eos_token: "<|im_end|>", chat_template: CHATML_TEMPLATE };
    writeTokenizerDir(dir, { tokenizer: byteLevelTokenizerJson(), config });
    assert.equal(loadTokenizer(dir).chatTemplateOrigin, `${dir}/tokenizer_config.json`);
    // Gemma 3's layout: {"chat_template": "..."} in chat_template.json wins over tokenizer_config.json.
    writeFileSync(join(dir, "chat_template.json"), JSON.stringify({ chat_template: gemma3 }, null, 2));
    let tok = loadTokenizer(dir);
    assert.equal(tok.chatTemplate, gemma3);
    assert.equal(tok.chatTemplateOrigin, `${dir}/chat_template.json`);
    assert.equal(
      tok.applyChatTemplate(CONV.slice(1, 3)),
      "<start_of_turn>user\nWhat is two plus two?<end_of_turn>\n<start_of_turn>model\nFour.<end_of_turn>\n",
    );
    // chat_template.jinja wins over both.
    writeFileSync(join(dir, "chat_template.jinja"), simple);
    tok = loadTokenizer(dir);
    assert.equal(tok.chatTemplate, simple);
    assert.equal(tok.chatTemplateOrigin, `${dir}/chat_template.jinja`);
    // A chat_template.json that is used must hold the key; an override file skips the directory's files.
    rmSync(join(dir, "chat_template.jinja"));
    writeFileSync(join(dir, "chat_template.json"), JSON.stringify({ template: gemma3 }));
    assert.throws(
      () => loadTokenizer(dir),
      (e: Error & { code?: string }) =>
        e.code === "ERR_TOKENIZER" && e.message === `${dir}/chat_template.json: no "chat_template" key`,
    );
    writeFileSync(join(dir, "chat_template.json"), "{ not json");
    const override = join(dir, "override.jinja");
    writeFileSync(override, simple);
    assert.equal(loadTokenizer(dir, { chatTemplateFile: override }).chatTemplate, simple);
    assert.throws(() => loadTokenizer(dir), /chat_template\.json: invalid JSON/);
  } finally {
    cleanup();
  }
});
