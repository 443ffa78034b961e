/**
 * A weight format: how a base weight's values are kept in memory. A format is one record (below) plus, in each
 * backend, its matmul/embedding routine (natively: a B-panel packing routine); the registry (index.ts) lists them.
 *
 * Values are laid out as in PyTorch, row-major; a format groups each row's values into blocks of `blockValues`
 * values taking `blockBytes` bytes (element formats: one value per block). A row's length must be a multiple of
 * blockValues; a tensor is stored as its rows one after the other, so value index i of a tensor lives in block
 * floor(i / blockValues). Every conversion works on whole blocks.
 */

/**
 * The typed arrays the registered formats keep their data in: f32 values, 16-bit words (bf16, f16), or the bytes
 * of a block format's blocks (Q8_0, Q4_0, K-quants; ggml's block layouts, byte for byte).
 */
export type WeightData = Float32Array | Uint16Array | Uint8Array;

export interface WeightFormat<D extends WeightData = WeightData> {
  /** Its name in memory: `--dtype`, StoredTensor.dtype, the Kernels' `bFormat` argument. */
  readonly name: string;
  /**
   * Its number across the native ABI: ggml's type id (GGML_TYPE_F32 = 0, GGML_TYPE_BF16 = 30, GGML_TYPE_Q8_0 = 8),
   * so that a GGUF tensor's type names its format directly.
   */
  readonly id: number;
  /** Values per block (1 for element formats; 32 for Q8_0 and Q4_0, 256 for K-quants). */
  readonly blockValues: number;
  /** Bytes per block. */
  readonly blockBytes: number;
  /** Bytes per element of the data's typed array (4 for Float32Array, 2 for Uint16Array, 1 for Uint8Array). */
  readonly elementBytes: number;
  /** The safetensors dtype whose bytes are this format's bytes (read and written without conversion), if any. */
  readonly fileDType: "F32" | "BF16" | "F16" | null;
  /**
   * Whether values are quantized in blocks with shared scales (Q8_0, Q4_0, K-quants): such a format is reached by
   * `--quantize` or a GGUF file, never by `--dtype`, and encoding into it loses more than a rounding per value.
   */
  readonly quantized: boolean;
  /** Zero-filled storage for n values (n a multiple of blockValues), starting on a cache line. */
  alloc(n: number): D;
  /** out[0, n) = the values of data from value index `from` (n and from multiples of blockValues). */
  toF32(out: Float32Array, data: D, from: number, n: number): void;
  /** The values of data from value index `from` = src[0, n) encoded (bf16: round to nearest even). */
  fromF32(data: D, from: number, src: Float32Array, n: number): void;
}

/** Bytes that n values take in `format` (n a multiple of its blockValues). */
export function formatBytes(format: WeightFormat, n: number): number {
  return (n / format.blockValues) * format.blockBytes;
}

/** Elements of the format's typed array that n values take (the data's `length` for a tensor of n values). */
export function formatLength(format: WeightFormat, n: number): number {
  return formatBytes(format, n) / format.elementBytes;
}
