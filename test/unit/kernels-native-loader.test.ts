/**
 * The native loader: LORATUNE_ISA / LORATUNE_THREADS handling, the Kernels object it returns, and the thread
 * pool surviving many back-to-back parallel calls.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoratuneError } from "../../src/errors.ts";
import {
  createNativeKernels,
  loadNativeKernels,
  type NativeIsa,
  nativeBlocksOnBf16,
  nativeHasBf16Dot,
  nativeIsas,
} from "../../src/kernels/native/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import { withEnv } from "../helpers/env.ts";
import { skipWithoutNative } from "./kernels-native-helpers.ts";

function assertNativeError(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (err: unknown) => isLoratuneError(err) && err.code === "ERR_NATIVE" && pattern.test(err.message));
}

test("LORATUNE_ISA and LORATUNE_THREADS select the native kernels", (t) => {
  if (skipWithoutNative(t)) return;
  const isas = nativeIsas();
  assert.ok(isas.includes("generic"), "the portable kernels are always available");
  const best = withEnv({ LORATUNE_ISA: undefined, LORATUNE_THREADS: "3" }, loadNativeKernels).kernels!;
  assert.equal(best.isa, isas.at(-1));
  assert.equal(best.threads, 3);
  for (const isa of isas) {
    const k = withEnv({ LORATUNE_ISA: isa, LORATUNE_THREADS: "1" }, loadNativeKernels).kernels!;
    assert.equal(k.name, "native");
    assert.equal(k.isa, isa);
    assert.equal(k.threads, 1);
  }
});

test("bad LORATUNE_ISA / LORATUNE_THREADS values and missing ISAs are errors", (t) => {
  if (skipWithoutNative(t)) return;
  assertNativeError(() => withEnv({ LORATUNE_ISA: "sse9" }, loadNativeKernels), /LORATUNE_ISA must be one of/);
  assertNativeError(() => withEnv({ LORATUNE_THREADS: "0" }, loadNativeKernels), /LORATUNE_THREADS must be/);
  assertNativeError(() => withEnv({ LORATUNE_THREADS: "two" }, loadNativeKernels), /LORATUNE_THREADS must be/);
  assertNativeError(
    () => withEnv({ LORATUNE_BLOCK_COMPUTE: "f16" }, loadNativeKernels),
    /LORATUNE_BLOCK_COMPUTE must be one of bf16, f32 \(got "f16"\)/,
  );
  // f32 keeps block-format products exact (kernels-native-matmul-blocks-bf16.test.ts checks the products).
  assert.equal(nativeBlocksOnBf16(withEnv({ LORATUNE_BLOCK_COMPUTE: "f32" }, loadNativeKernels).kernels!), false);
  const best = withEnv({ LORATUNE_BLOCK_COMPUTE: "bf16" }, loadNativeKernels).kernels!;
  assert.equal(nativeBlocksOnBf16(best), best.isa === "avx512" && nativeHasBf16Dot());
  assertNativeError(() => createNativeKernels("neon" as NativeIsa, 1), /does not support ISA "neon"/);
  for (const isa of ["avx2", "avx512"] as NativeIsa[]) {
    if (nativeIsas().includes(isa)) continue;
    assertNativeError(() => withEnv({ LORATUNE_ISA: isa }, loadNativeKernels), /does not support ISA/);
  }
});

test("native kernels objects are complete, frozen and cached", (t) => {
  if (skipWithoutNative(t)) return;
  const k = createNativeKernels("generic", 2);
  assert.equal(createNativeKernels("generic", 2), k);
  assert.ok(Object.isFrozen(k));
  for (const key of Object.keys(refKernels) as (keyof typeof refKernels)[]) {
    assert.equal(typeof k[key], typeof refKernels[key], `native kernels provide ${key}`);
  }
});

test("the thread pool handles many back-to-back parallel calls", (t) => {
  if (skipWithoutNative(t)) return;
  const n = 100_003; // above the parallel threshold
  for (const isa of nativeIsas()) {
    const k = createNativeKernels(isa, 2);
    const out = new Float32Array(n);
    const one = new Float32Array(n).fill(1);
    for (let i = 0; i < 500; i++) k.addInPlace(out, one, n);
    assert.ok(
      out.every((x) => x === 500),
      `${isa}: every element received every addition`,
    );
  }
});
