/**
 * Typed arrays whose first element sits on a 64-byte (cache-line) boundary, for model weights. Decoding streams
 * every weight row once per token; rows that start mid-line make every vector load straddle two lines (measured:
 * the `small` batch-1 decode runs 15–25% faster on aligned weights). JavaScript cannot see an address, so the
 * native addon reports where a fresh buffer starts (through setAddressProbe) and the view skips to the next
 * boundary; without the addon the arrays are plain ones (alignment only matters to the native kernels).
 */

/** Where a buffer's first byte sits, mod m; null when it cannot be told. */
export type AddressProbe = (buffer: ArrayBuffer, m: number) => number | null;

let probe: AddressProbe | null = null;

/**
 * Installs the address probe (the native kernels' loader does, when the addon loads). This floor stays free of
 * the addon: before a probe is installed, buffers are allocated as plain ones.
 */
export function setAddressProbe(p: AddressProbe | null): void {
  probe = p;
}

/** Cache-line size the weights are aligned to. */
export const WEIGHT_ALIGN = 64;

/**
 * Advises the whole 2 MiB pages of buffer[offset, offset + bytes) for huge pages and returns offset, the buffer's
 * first 2 MiB boundary, or returns null (no room, or no such advice here). The native kernels' loader installs the
 * addon's (kernels/native/index.ts).
 */
export type HugePageAdvice = (buffer: ArrayBuffer, bytes: number) => number | null;

let hugePageAdvice: HugePageAdvice | null = null;

/** A huge page: buffers of at least this many bytes start on one, their whole huge pages advised. */
export const LARGE_BUFFER_BYTES = 2 * 2 ** 20;

/**
 * Installs (or with null removes) the huge-page advice for buffers of LARGE_BUFFER_BYTES or more: a weight streamed
 * once per decoded token reads faster on 2 MiB pages (fewer TLB misses, the prefetcher not stopping every 4 KiB).
 */
export function setHugePageAdvice(a: HugePageAdvice | null): void {
  hugePageAdvice = a;
}

/** A zero-filled buffer with room for `bytes` bytes from `offset`, a WEIGHT_ALIGN boundary where the addon can tell. */
function alignedBytes(bytes: number, elementSize: number): { buffer: ArrayBuffer; offset: number } {
  if (hugePageAdvice && bytes >= LARGE_BUFFER_BYTES) {
    // Room to start on a 2 MiB boundary; the pages before it are never touched, so they take no memory.
    const buffer = new ArrayBuffer(bytes + LARGE_BUFFER_BYTES);
    const offset = hugePageAdvice(buffer, bytes);
    if (offset !== null) return { buffer, offset };
  }
  const buffer = new ArrayBuffer(bytes + WEIGHT_ALIGN);
  const mod = probe ? probe(buffer, WEIGHT_ALIGN) : null;
  const offset = mod === null ? 0 : (WEIGHT_ALIGN - mod) % WEIGHT_ALIGN;
  return { buffer, offset: offset % elementSize === 0 ? offset : 0 };
}

/** new Float32Array(n), 64-byte aligned. */
export function alignedFloat32(n: number): Float32Array {
  if (n === 0) return new Float32Array(0);
  const { buffer, offset } = alignedBytes(n * 4, 4);
  return new Float32Array(buffer, offset, n);
}

/** new Uint16Array(n), 64-byte aligned (bf16 weights). */
export function alignedUint16(n: number): Uint16Array {
  if (n === 0) return new Uint16Array(0);
  const { buffer, offset } = alignedBytes(n * 2, 2);
  return new Uint16Array(buffer, offset, n);
}

/** new Uint8Array(n), 64-byte aligned (block-quantized weights). */
export function alignedUint8(n: number): Uint8Array {
  if (n === 0) return new Uint8Array(0);
  const { buffer, offset } = alignedBytes(n, 1);
  return new Uint8Array(buffer, offset, n);
}
