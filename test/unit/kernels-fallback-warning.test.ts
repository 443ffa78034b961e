/**
 * Issue 13: a library caller that falls back to the reference kernels hears it once, as a process warning
 * (LoratuneWarning, NATIVE_KERNELS_MISSING), unless it took the notice to show it itself as the CLI and inspect do,
 * or chose the reference kernels on purpose.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { nativeUnavailableReason } from "../../src/kernels/native/index.ts";
import { ROOT } from "../helpers/cli.ts";

/** Runs ESM `code` (with `k` = src/kernels/index.ts imported) in a fresh Node; returns its stderr. */
function stderrOf(code: string, env: Record<string, string>): string {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LORATUNE_")));
  const script = `const k = await import(${JSON.stringify(`${ROOT}/src/kernels/index.ts`)});\n${code}`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...base, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

const MISSING = { LORATUNE_TEST_NATIVE_MISSING: "1" };
const TWICE = "k.getKernels(); await new Promise((r) => setTimeout(r, 20)); k.getKernels();";

test("a library caller is warned once when the native kernels are missing", () => {
  const stderr = stderrOf(TWICE, MISSING);
  const lines = stderr.split("\n").filter((l) => l.includes("native kernels unavailable"));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /\[NATIVE_KERNELS_MISSING\] LoratuneWarning: .*10 to 100 times slower.*Fix: build them with/);
});

test("no process warning when the caller shows the notice itself, chose ref, or has the native kernels", () => {
  assert.equal(stderrOf("k.getKernels(); k.kernelWarning();", MISSING), "");
  assert.equal(stderrOf("k.kernelNotice();", MISSING), "");
  assert.equal(stderrOf(TWICE, { ...MISSING, LORATUNE_BACKEND: "ref" }), "");
  // With the addon built (always in CI), choosing the native kernels says nothing.
  if (nativeUnavailableReason() === undefined) assert.equal(stderrOf(TWICE, {}), "");
});
