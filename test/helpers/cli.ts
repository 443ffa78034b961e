/** Running the `loratune` command from end-to-end tests. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const BIN = join(ROOT, "bin", "loratune.js");
export const GOLDEN = join(ROOT, "test", "fixtures", "golden");

/** Runs `loratune ...args` to completion. */
export function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `loratune ...args` and asserts it succeeded. */
export function cliOk(...args: string[]): { stdout: string; stderr: string } {
  const r = cli(...args);
  assert.equal(r.code, 0, `loratune ${args[0]} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}
