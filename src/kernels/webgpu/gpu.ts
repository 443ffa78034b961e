/// <reference types="@webgpu/types" />
/**
 * The WebGPU kernels' device context: a GPUDevice, its compute pipelines compiled once per WGSL source, and the
 * one way every kernel launches (a bind group of storage buffers in binding order, then the uniform block, in
 * one command buffer). Works wherever `navigator.gpu` or the `webgpu` package gives a device: the same code runs
 * in a browser tab and in Node.
 */

export interface Gpu {
  readonly device: GPUDevice;
  /** Compiled pipelines by kernel key (one per WGSL source). */
  readonly pipelines: Map<string, GPUComputePipeline>;
  /**
   * When set, launches are recorded into this encoder instead of each being submitted on its own (record() and
   * submitRecorded()): one submission for a whole forward and backward. Queue operations (writeBuffer, a readback)
   * run in queue order, before recorded work that is not yet submitted, so callers submit first.
   */
  recording: GPUCommandEncoder | null;
}

/** Workgroups per grid dimension every adapter supports (maxComputeWorkgroupsPerDimension's minimum). */
export const MAX_GROUPS_PER_DIM = 65535;

export function createGpu(device: GPUDevice): Gpu {
  return { device, pipelines: new Map(), recording: null };
}

/** From now on launches are recorded into one command encoder (until submitRecorded). */
export function record(gpu: Gpu): void {
  gpu.recording ??= gpu.device.createCommandEncoder();
}

/** Submits what was recorded since record() (nothing when not recording); launches then submit one by one. */
export function submitRecorded(gpu: Gpu): void {
  const enc = gpu.recording;
  if (enc === null) return;
  gpu.recording = null;
  gpu.device.queue.submit([enc.finish()]);
}

/** The pipeline for `key`, compiling `wgsl()` (entry point `main`) the first time it is asked for. */
export function pipeline(gpu: Gpu, key: string, wgsl: () => string): GPUComputePipeline {
  let p = gpu.pipelines.get(key);
  if (p === undefined) {
    const module = gpu.device.createShaderModule({ label: key, code: wgsl() });
    p = gpu.device.createComputePipeline({ label: key, layout: "auto", compute: { module, entryPoint: "main" } });
    gpu.pipelines.set(key, p);
  }
  return p;
}

/** A scalar of a uniform block: its WGSL type and value (every member is 4 bytes, in declaration order). */
export type UniformWord = ["u32" | "i32" | "f32", number];

/** A uniform buffer holding `words` in order, padded to a multiple of 16 bytes (WGSL's struct alignment). */
export function uniforms(gpu: Gpu, words: readonly UniformWord[]): GPUBuffer {
  const bytes = Math.max(16, Math.ceil((words.length * 4) / 16) * 16);
  const data = new ArrayBuffer(bytes);
  const view = new DataView(data);
  words.forEach(([type, v], i) => {
    if (type === "f32") view.setFloat32(i * 4, v, true);
    else if (type === "i32") view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v, true);
  });
  const buf = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  gpu.device.queue.writeBuffer(buf, 0, data);
  return buf;
}

/**
 * Runs `pipe` over `groups` workgroups with bindings 0 … n-1 = `storage` in order and binding n = the uniform
 * block. Every binding must be used by the shader ("auto" layouts drop unused ones). Submitted at once, or
 * recorded (Gpu.recording).
 */
export function dispatch(
  gpu: Gpu,
  pipe: GPUComputePipeline,
  storage: readonly GPUBuffer[],
  params: readonly UniformWord[],
  groups: readonly [number, number, number?],
): void {
  const entries = [...storage, uniforms(gpu, params)].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const bindGroup = gpu.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  const enc = gpu.recording ?? gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(groups[0], groups[1], groups[2] ?? 1);
  pass.end();
  if (gpu.recording === null) gpu.device.queue.submit([enc.finish()]);
}

/**
 * A grid of `count` workgroups as (x, y) with x ≤ 65535: shaders number their workgroup
 * `wg.x + wg.y * nwg.x` and return when it is ≥ count (uniformly, for the whole workgroup).
 */
export function grid(count: number): [number, number] {
  if (count <= MAX_GROUPS_PER_DIM) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_GROUPS_PER_DIM);
  if (y > MAX_GROUPS_PER_DIM) throw new RangeError(`webgpu: ${count} workgroups exceed a 65535² grid`);
  return [MAX_GROUPS_PER_DIM, y];
}

/** The WGSL line that numbers a workgroup of a `grid()` launch (needs builtins `wg` and `nwg`). */
export const GROUP_INDEX = "let group = wg.x + wg.y * nwg.x;";
