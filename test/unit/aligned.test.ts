/** Weight arrays start on a cache line: fresh aligned arrays, tensors read from safetensors and bench weights. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { nativeAddressMod } from "../../src/kernels/native/index.ts";
import { alignedFloat32, alignedUint16, WEIGHT_ALIGN } from "../../src/tensor/aligned.ts";
import { skipWithoutNative } from "./kernels-native-helpers.ts";

/** Address of a view's first element mod WEIGHT_ALIGN (its buffer's address plus its byte offset). */
function misalignment(a: Float32Array | Uint16Array | Uint8Array): number {
  const base = nativeAddressMod(a.buffer as ArrayBuffer, WEIGHT_ALIGN);
  assert.notEqual(base, null);
  return (base! + a.byteOffset) % WEIGHT_ALIGN;
}

test("aligned arrays: zero-filled, the requested length, on a 64-byte boundary", (t) => {
  if (skipWithoutNative(t)) return;
  for (const n of [1, 7, 288, 100_003]) {
    const f = alignedFloat32(n);
    const h = alignedUint16(n);
    assert.equal(f.length, n);
    assert.equal(h.length, n);
    assert.ok(f.every((x) => x === 0) && h.every((x) => x === 0));
    assert.equal(misalignment(f), 0, `Float32Array(${n})`);
    assert.equal(misalignment(h), 0, `Uint16Array(${n})`);
  }
  assert.equal(alignedFloat32(0).length, 0);
  assert.throws(() => nativeAddressMod(new ArrayBuffer(8), 0), /addressMod/);
});

test("tensors read from safetensors are aligned and keep their values (f32, and bf16 as stored)", (t) => {
  if (skipWithoutNative(t)) return;
  const dir = mkdtempSync(join(tmpdir(), "lt-aligned-"));
  try {
    const path = join(dir, "m.safetensors");
    const f32 = Float32Array.from({ length: 37 }, (_, i) => i * 0.5 - 3);
    const bf16 = Uint16Array.from({ length: 21 }, (_, i) => 0x3f80 + i);
    writeSafetensors(path, {
      a: { dtype: "F32", shape: [37], data: f32 },
      b: { dtype: "BF16", shape: [3, 7], data: bf16 },
    });
    const asF32 = readSafetensors(path, "f32");
    assert.deepEqual(asF32.get("a")!.data, f32);
    assert.equal(misalignment(asF32.get("a")!.data), 0);
    assert.equal(misalignment(asF32.get("b")!.data), 0);
    const asBf16 = readSafetensors(path, "bf16");
    assert.deepEqual(asBf16.get("b")!.data, bf16);
    assert.equal(misalignment(asBf16.get("b")!.data), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
