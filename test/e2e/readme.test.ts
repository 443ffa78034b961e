/**
 * The README's walkthrough (the code block after `<!-- walkthrough -->`) runs as written, in a fresh folder, with
 * `npx loratune` pointing at this checkout: train, resume to extend, inspect, eval, generate, repeat from
 * config.yaml, merge.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BIN, ROOT } from "../helpers/cli.ts";

/** The code block after `<!-- marker -->` in README.md. */
function walkthrough(marker = "walkthrough"): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
  assert.ok(m, `README has a ${marker} block`);
  return m[1]!;
}

/** Runs a README block with bash in a fresh folder, `npx loratune` being this checkout's bin. */
function runBlock(block: string) {
  const cwd = mkdtempSync(join(tmpdir(), "lt-readme-"));
  const script = `set -euo pipefail\n${block.replaceAll("npx loratune", `node ${JSON.stringify(BIN)}`)}\n`;
  const r = spawnSync("bash", ["-c", script], { cwd, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return { cwd, stdout: r.stdout };
}

test("the README walkthrough runs as written, including the resume that extends the run", () => {
  const block = walkthrough();
  assert.match(block, /--resume runs\/card/);
  const { cwd, stdout } = runBlock(block);
  const marker = JSON.parse(readFileSync(join(cwd, "runs", "card", "loratune.json"), "utf8"));
  assert.equal(marker.status, "completed");
  assert.equal(marker.steps_done, 200);
  assert.ok(existsSync(join(cwd, "runs", "card-seed2", "adapter_model.safetensors")));
  assert.ok(existsSync(join(cwd, "models", "card", "model.safetensors")));
  assert.match(stdout, /loss \d/);
  rmSync(cwd, { recursive: true, force: true });
});

test("the README's GGUF walkthrough runs as written: train, eval, export and merge on a q4_k GGUF base", () => {
  const { cwd, stdout } = runBlock(walkthrough("gguf-walkthrough"));
  assert.match(stdout, /tensor types\s+q4_k \d+/);
  const marker = JSON.parse(readFileSync(join(cwd, "runs", "card-q4k", "loratune.json"), "utf8"));
  assert.equal(marker.status, "completed");
  assert.match(stdout, /exact match [\d.]+%\s+token accuracy/);
  assert.ok(existsSync(join(cwd, "gguf", "card-lora", "adapter.gguf")));
  // The adapter's export names the GGUF base it applies to in llama.cpp's command.
  assert.match(stdout, /llama-cli -m \S+\/gguf\/demo-q4k\/model\.gguf --lora gguf\/card-lora\/adapter\.gguf/);
  assert.ok(existsSync(join(cwd, "models", "card-q4k", "tokenizer.json")));
  rmSync(cwd, { recursive: true, force: true });
});
