/**
 * Weight arrays start on a cache line: fresh aligned arrays, tensors read from safetensors and bench weights. Arrays
 * of 2 MiB or more come from the addon's huge-page allocator: page-aligned, zero-filled, exactly their size, and
 * collected like any other buffer once dropped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors-write.ts";
import { hugePagesWanted, nativeAddressMod, nativeAdviseHugePages } from "../../src/kernels/native/index.ts";
import {
  alignedFloat32,
  alignedUint8,
  alignedUint16,
  LARGE_BUFFER_BYTES,
  WEIGHT_ALIGN,
} from "../../src/tensor/aligned.ts";
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

test("arrays of 2 MiB or more start on a 2 MiB boundary, zero-filled and writable; smaller ones on 64 bytes", (t) => {
  if (skipWithoutNative(t)) return;
  if (!hugePagesWanted()) return t.skip("LORATUNE_HUGE_PAGES=0");
  if (process.platform !== "linux") return t.skip("huge-page advice is Linux's");
  /** Address of a view's first element mod 4096 (the probe's largest modulus; 2 MiB boundaries are 4096 ones). */
  const pageMod = (a: Uint8Array | Uint16Array | Float32Array) =>
    (nativeAddressMod(a.buffer as ArrayBuffer, 4096)! + a.byteOffset) % 4096;
  const n = LARGE_BUFFER_BYTES / 2 + 3; // bf16 values: just over one 2 MiB page
  const h = alignedUint16(n);
  assert.equal(h.length, n);
  assert.equal(pageMod(h), 0);
  assert.equal(h.buffer.byteLength, 2 * n + LARGE_BUFFER_BYTES, "room to slide onto the 2 MiB boundary");
  assert.ok(h.every((x) => x === 0));
  h[0] = 1;
  h[n - 1] = 0xbeef;
  assert.equal(h[n - 1], 0xbeef);
  const f = alignedFloat32(LARGE_BUFFER_BYTES / 4);
  assert.equal(f.length, LARGE_BUFFER_BYTES / 4);
  assert.equal(pageMod(f), 0);
  // One byte short of the threshold: a plain buffer with room for the 64-byte alignment.
  const small = alignedUint8(LARGE_BUFFER_BYTES - 1);
  assert.equal(small.buffer.byteLength, LARGE_BUFFER_BYTES - 1 + WEIGHT_ALIGN);
  assert.equal(misalignment(small), 0);
  assert.throws(() => nativeAdviseHugePages(new ArrayBuffer(8), -1), /adviseHugePages/);
  assert.equal(nativeAdviseHugePages(new ArrayBuffer(64), 65), null, "no room for the data");
});

test("dropped large arrays are collected: a loop of 48 × 32 MiB arrays does not hold them all", (t) => {
  if (skipWithoutNative(t)) return;
  const start = process.memoryUsage().rss;
  let peak = start;
  for (let i = 0; i < 48; i++) {
    const a = alignedUint8(32 * 2 ** 20);
    a.fill(i + 1); // touch every page
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  // 1.5 GiB were touched in all; the allocator reports each mapping to V8, so garbage is collected along the way.
  assert.ok(peak - start < 768 * 2 ** 20, `RSS grew by ${((peak - start) / 2 ** 20).toFixed(0)} MiB`);
});

test("LORATUNE_HUGE_PAGES: 0 turns the huge-page advice off, 1 or unset leaves it on, anything else is refused", () => {
  assert.equal(hugePagesWanted({ LORATUNE_HUGE_PAGES: "0" }), false);
  assert.equal(hugePagesWanted({}), true);
  assert.equal(hugePagesWanted({ LORATUNE_HUGE_PAGES: "" }), true);
  assert.equal(hugePagesWanted({ LORATUNE_HUGE_PAGES: "1" }), true);
  assert.throws(
    () => hugePagesWanted({ LORATUNE_HUGE_PAGES: "off" }),
    /LORATUNE_HUGE_PAGES must be 0 or 1 \(got "off"\)/,
  );
});
