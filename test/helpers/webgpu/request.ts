/** What a WebGPU kernel test sends to the page (browser.ts → page-entry.ts); plain JSON. */
export interface KernelRequest {
  /** The kernel: a key of page-entry.ts's OPS. */
  op: string;
  /** f32 tensors by argument name (inputs and outputs; outputs start with the values given). */
  f32: Record<string, number[]>;
  /** i32 tensors by argument name (targets, positions). */
  i32?: Record<string, number[]>;
  /** 16-bit tensors (bf16 weights) by argument name. */
  u16?: Record<string, number[]>;
  /** Dimensions and scalars by argument name (booleans as 0/1). */
  scalars: Record<string, number>;
  /** Names of the f32 tensors to read back after the kernel ran. */
  read: string[];
}

/** What the page puts on globalThis.webgpuKernels. */
export interface PageKernels {
  /** Undefined when a WebGPU device opened, else the reason there is none. */
  unavailable(): Promise<string | undefined>;
  /** Runs one kernel and returns the tensors named in `read`. */
  run(req: KernelRequest): Promise<Record<string, number[]>>;
}

/** globalThis as the page sees it. */
export type PageGlobal = { webgpuKernels?: PageKernels };
