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

function walkthrough(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = /<!-- walkthrough -->\n```\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(m, "README has a walkthrough block");
  return m[1]!;
}

test("the README walkthrough runs as written, including the resume that extends the run", () => {
  const block = walkthrough();
  assert.match(block, /--resume runs\/card/);
  const cwd = mkdtempSync(join(tmpdir(), "lt-readme-"));
  const script = `set -euo pipefail\n${block.replaceAll("npx loratune", `node ${JSON.stringify(BIN)}`)}\n`;
  const r = spawnSync("bash", ["-c", script], { cwd, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const marker = JSON.parse(readFileSync(join(cwd, "runs", "card", "loratune.json"), "utf8"));
  assert.equal(marker.status, "completed");
  assert.equal(marker.steps_done, 200);
  assert.ok(existsSync(join(cwd, "runs", "card-seed2", "adapter_model.safetensors")));
  assert.ok(existsSync(join(cwd, "models", "card", "model.safetensors")));
  assert.match(r.stdout, /loss \d/);
  rmSync(cwd, { recursive: true, force: true });
});
