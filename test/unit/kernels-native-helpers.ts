/**
 * Shared helpers for the native-kernel parity tests: which native kernel objects to test (every ISA this CPU
 * has, at 1 and 2 threads), a skip when the addon is not built, and tolerance checks against the reference.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { createNativeKernels, nativeIsas, nativeUnavailableReason } from "../../src/kernels/native/index.ts";
import { refKernels } from "../../src/kernels/ref/index.ts";
import type { Kernels } from "../../src/kernels/types.ts";
import { type StorageDType, type WeightData, weightFormat } from "../../src/tensor/formats/index.ts";
import { randArray } from "./kernels-ref-helpers.ts";

export { randArray, rng } from "./kernels-ref-helpers.ts";

/** Why native tests are skipped, or undefined when the addon loads. */
export function nativeSkipReason(): string | undefined {
  const reason = nativeUnavailableReason();
  return reason === undefined ? undefined : `native addon unavailable: ${reason}`;
}

/**
 * Skips the test (returns true) when the addon is not built. With LORATUNE_REQUIRE_NATIVE=1 (CI sets it) a missing
 * addon fails the test instead, so a broken native build can never pass as a run of skipped parity tests.
 */
export function skipWithoutNative(t: TestContext): boolean {
  const reason = nativeSkipReason();
  if (reason === undefined) return false;
  if (process.env.LORATUNE_REQUIRE_NATIVE === "1")
    assert.fail(`${reason} (LORATUNE_REQUIRE_NATIVE=1: the native kernels must be built)`);
  t.skip(reason);
  return true;
}

/** Every ISA the CPU has, each at the given thread counts. */
export function nativeVariants(threads: readonly number[] = [1, 2]): Kernels[] {
  return nativeIsas().flatMap((isa) => threads.map((n) => createNativeKernels(isa, n)));
}

export function label(k: Kernels): string {
  return `${k.isa}/${k.threads}t`;
}

/** Euclidean norm in f64. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** Asserts ‖got − want‖₂ ≤ rtol·‖want‖₂ + atol (and that got is finite where want is), naming the worst element. */
export function assertNormClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol = 0) {
  assert.equal(got.length, want.length, `${name}: length`);
  let s = 0;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (Number.isFinite(want[i]!) && !Number.isFinite(got[i]!))
      assert.fail(`${name}[${i}]: got ${got[i]}, expected ${want[i]}`);
    s += d * d;
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  const bound = rtol * norm(want) + atol;
  assert.ok(
    Math.sqrt(s) <= bound,
    `${name}: ‖diff‖ ${Math.sqrt(s).toExponential(3)} > ${bound.toExponential(3)}; worst [${at}] got ${got[at]} expected ${want[at]}`,
  );
}

/** Asserts |got[i] − want[i]| ≤ rtol·scale[i] + atol elementwise, naming the first failure. */
export function assertScaledClose(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  scale: ArrayLike<number>,
  rtol: number,
  atol = 0,
): void {
  assert.equal(got.length, want.length, `${name}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= rtol * scale[i]! + atol)) {
      assert.fail(`${name}[${i}]: got ${got[i]}, expected ${want[i]} (tolerance ${rtol * scale[i]! + atol})`);
    }
  }
}

/** Elementwise absolute values (for error bounds Σ|a||b|). */
export function abs(a: Float32Array): Float32Array {
  return a.map(Math.abs);
}

/** Random bf16 values (as Uint16Array bits) of moderate magnitude, no NaN/inf. */
export function randBf16(rand: () => number, n: number): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    f[0] = rand() * 2 - 1;
    out[i] = u[0]! >>> 16;
  }
  return out;
}

/** x rounded to bf16 (nearest even) and widened back: what vdpbf16ps multiplies. */
export function roundBf16(x: Float32Array): Float32Array {
  const h = new Uint16Array(x.length);
  refKernels.f32ToBf16(h, x, x.length);
  const out = new Float32Array(x.length);
  refKernels.bf16ToF32(out, h, x.length);
  return out;
}

/** n random values in weight format `name` (uniform in [-1, 1) encoded), and their values widened back exactly. */
export function randWeight(
  rand: () => number,
  name: StorageDType,
  n: number,
): { data: WeightData; values: Float32Array } {
  const f = weightFormat(name);
  const data = f.alloc(n);
  f.fromF32(data, 0, randArray(rand, n), n);
  const values = new Float32Array(n);
  f.toF32(values, data, 0, n);
  return { data, values };
}
