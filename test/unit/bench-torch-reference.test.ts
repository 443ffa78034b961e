/**
 * Issue 13, item 5: `bench` uses the PyTorch reference only where it is told to (--torch-reference, else
 * LORATUNE_TORCH_REFERENCE), never a path guessed outside the package, and says how to give it otherwise.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runBench } from "../../src/bench/run.ts";
import { NO_REFERENCE, probeTorch, TORCH_REFERENCE_ENV, torchReferenceDir } from "../../src/bench/torch.ts";
import { benchOptions } from "../../src/cli/bench.ts";
import { cliOk } from "../helpers/cli.ts";

/** Runs `fn` with LORATUNE_TORCH_REFERENCE set to `value` (unset when undefined), then restores it. */
function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env[TORCH_REFERENCE_ENV];
  if (value === undefined) delete process.env[TORCH_REFERENCE_ENV];
  else process.env[TORCH_REFERENCE_ENV] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[TORCH_REFERENCE_ENV];
    else process.env[TORCH_REFERENCE_ENV] = saved;
  }
}

test("the reference folder comes from the flag, else the environment, else nowhere", () => {
  withEnv("/from/env", () => {
    assert.equal(torchReferenceDir("/from/flag"), "/from/flag");
    assert.equal(torchReferenceDir(undefined), "/from/env");
  });
  withEnv(undefined, () => assert.equal(torchReferenceDir(undefined), undefined));
  withEnv("", () => assert.equal(torchReferenceDir(undefined), undefined));
  const flags = { workloads: [], dtype: "f32", torch: true, python: "p" };
  withEnv(undefined, () => assert.equal(benchOptions(flags).referenceDir, undefined));
  withEnv("/from/env", () => assert.equal(benchOptions(flags).referenceDir, "/from/env"));
});

test("without a reference the comparison is skipped, saying how to give one; --vs-torch refuses", async () => {
  const probe = probeTorch("/usr/bin/python3", undefined);
  assert.deepEqual(probe, { reason: NO_REFERENCE });
  assert.match(NO_REFERENCE, /--torch-reference DIR or set LORATUNE_TORCH_REFERENCE=DIR/);
  const options = withEnv(undefined, () =>
    benchOptions({ workloads: [], dtype: "f32", torch: true, python: "p", vsTorch: true, quick: true }),
  );
  await assert.rejects(runBench(options), (e: Error & { code?: string }) => {
    return e.code === "ERR_UNSUPPORTED" && e.message === `--vs-torch: ${NO_REFERENCE}`;
  });
});

test("bench --help names no reference path, only how to give one", () => {
  const help = cliOk("bench", "--help").stdout.replace(/\s+/g, " ");
  assert.match(help, /--torch-reference <dir> .*\(default: \$LORATUNE_TORCH_REFERENCE; unset: no PyTorch comparison\)/);
  assert.doesNotMatch(help, /\/work\/|\.\.\/shared/);
});
