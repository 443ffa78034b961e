/**
 * llama.cpp judges loratune's block formats on one file: a GGUF that loratune quantized (q8_0, q4_k) and wrote is
 * loaded by llama.cpp (node-llama-cpp, pinned; skipped with the reason printed only where its prebuilt binary cannot
 * load) and by loratune (`--model x.gguf`), and llama.cpp's greedy continuation of each prompt (32 tokens) must be
 * loratune's: teacher-forced, every token llama.cpp chose is loratune's argmax, except at exact ties (loratune's
 * two best logits within `TIE`), which are printed. Both sides decode the same blocks, so a wrong block layout,
 * scale or row order shows as unrelated tokens; what remains is llama.cpp's arithmetic (it rounds activations to
 * 8-bit blocks before multiplying by a quantized weight), whence a tie margin wider than the f32 judge's.
 * Golden models (hidden size 64, so q4_k falls back to q8_0 on them) and the demo model (q4_k on every linear but
 * down_proj, and on the tied embedding).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { exportModel } from "../../src/api/export.ts";
import { readGgufHeader, readGgufTensorBytes } from "../../src/gguf/reader.ts";
import { type GgufTensorOut, writeGguf } from "../../src/gguf/writer.ts";
import { loadModel } from "../../src/model/load.ts";
import { loadGgufTokenizer } from "../../src/tokenizer/gguf-tokenizer.ts";
import { goldenModelWithTokenizer } from "../helpers/gguf-models.ts";
import { judgeGreedy, llamaGreedy, loadLlamaCpp } from "../helpers/llama-cpp.ts";

const llama = await loadLlamaCpp();
const skip = typeof llama === "string" ? llama : false;
if (skip) console.log(`# llama.cpp tests skipped: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "loratune-gguf-base-llama-cpp-"));
const loaded: LlamaModel[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const TOKENS = 32;
const PROMPTS = ["The", "Mira the baker lives in Oakford and", "Once upon a time, 3 friends"];
/**
 * Logit margin under which either choice is greedy: llama.cpp rounds activations to 8-bit blocks before a quantized
 * matmul, which moves the demo model's logits (magnitudes about 10) by up to about 1e-2; a misread block moves them
 * by whole units (the control test below).
 */
const TIE = 2e-2;

for (const name of ["tiny", "tiny-llama3", "tiny-qwen2", "tiny-qwen3", "demo"]) {
  for (const outtype of ["q8_0", "q4_k"]) {
    test(`${outtype} written by loratune: llama.cpp's greedy tokens are loratune's on the same file: ${name}`, {
      skip,
    }, async () => {
      const dir = name === "demo" ? "demo" : goldenModelWithTokenizer(join(work, "models"), name);
      const out = join(work, `${name}-${outtype}`);
      exportModel({ model: dir, out, outtype });
      const path = join(out, "model.gguf");
      const theirs = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: path });
      loaded.push(theirs);
      const ours = loadModel(path);
      const tok = loadGgufTokenizer(path);
      let ties = 0;
      for (const text of PROMPTS) {
        const prompt = tok.encode(text);
        const ids = (await llamaGreedy(theirs, prompt, TOKENS)).ids;
        assert.equal(ids.length, TOKENS);
        const judged = judgeGreedy(ours, prompt, ids, TIE);
        for (const t of judged.ties) {
          console.log(
            `# ${name} ${outtype} ${JSON.stringify(text)}: tie at ${t.at} (margin ${t.margin.toExponential(1)})`,
          );
        }
        ties += judged.ties.length;
        assert.deepEqual(
          judged.mismatches,
          [],
          `${name} ${outtype} ${JSON.stringify(text)}: not loratune's greedy choice`,
        );
      }
      assert.ok(ties <= 4, `${name} ${outtype}: ${ties} ties in ${PROMPTS.length * TOKENS} tokens`);
    });
  }
}

test("the judge tells a misread block: one tensor's q8_0 scales negated in llama.cpp's copy", { skip }, async () => {
  const out = join(work, "control");
  exportModel({ model: "demo", out, outtype: "q8_0" });
  const path = join(out, "model.gguf");
  const file = readGgufHeader(path);
  const tensors: GgufTensorOut[] = file.tensors.map((t) => {
    const bytes = readGgufTensorBytes(file, t);
    // Q8_0 blocks: an f16 scale (bytes 0-1, sign in bit 7 of byte 1) then 32 int8 values.
    if (t.name === "blk.0.attn_output.weight") for (let b = 0; b < bytes.length; b += 34) bytes[b + 1]! ^= 0x80;
    return { name: t.name, shape: t.shape, type: t.type.id, data: () => bytes };
  });
  const broken = join(work, "control-broken.gguf");
  writeGguf(broken, file.metadata, tensors);
  const theirs = await (llama as Exclude<typeof llama, string>).loadModel({ modelPath: broken });
  loaded.push(theirs);
  const ours = loadModel(path);
  const prompt = loadGgufTokenizer(path).encode(PROMPTS[1]!);
  const { mismatches } = judgeGreedy(ours, prompt, (await llamaGreedy(theirs, prompt, TOKENS)).ids, TIE);
  assert.ok(mismatches.length > 0, "a misread tensor is caught");
  console.log(
    `# control: ${mismatches.length} mismatches, largest margin ${Math.max(...mismatches.map((m) => m.margin)).toFixed(2)}`,
  );
});
