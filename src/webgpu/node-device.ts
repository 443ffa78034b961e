/// <reference types="@webgpu/types" />
/**
 * A WebGPU device in Node (LORATUNE_BACKEND=webgpu), through the optional `webgpu` package: Dawn, prebuilt for
 * Linux x64/arm64 (Vulkan), macOS (Metal) and Windows x64/arm64 (D3D12). Node only (a browser page takes
 * navigator.gpu); the package is loaded on demand, so nothing else needs it. When there is no package or Dawn
 * finds no adapter, a LoratuneError("ERR_UNSUPPORTED") says why and what works.
 */
import { LoratuneError } from "../errors.ts";
import { requestTrainingDevice } from "./device.ts";

/** The `webgpu` package's exports that are used. */
interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

const WHAT_WORKS =
  "WebGPU in Node needs a GPU with Vulkan (Linux: libvulkan.so.1 and the GPU's Vulkan driver), Metal (macOS) or D3D12 " +
  "(Windows). Unset LORATUNE_BACKEND to train on the CPU kernels.";

/** Opens the first adapter Dawn offers (its name in `adapter`), with the adapter's buffer limits requested. */
export async function openNodeWebGpu(): Promise<{ device: GPUDevice; adapter: string }> {
  let dawn: DawnModule;
  try {
    dawn = (await import("webgpu")) as unknown as DawnModule;
  } catch (err) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `LORATUNE_BACKEND=webgpu needs the optional package "webgpu" (Dawn), which did not load (${(err as Error).message}). ` +
        `Install it with 'npm install webgpu@0.6.2' (prebuilt for Linux x64/arm64, macOS, Windows x64/arm64). ${WHAT_WORKS}`,
      { cause: err },
    );
  }
  // The WebGPU globals (GPUBufferUsage, GPUMapMode, …) the kernels' host code reads.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter();
  if (adapter === null) {
    throw new LoratuneError(
      "ERR_UNSUPPORTED",
      `LORATUNE_BACKEND=webgpu: the webgpu package (Dawn) found no GPU adapter on this machine (if Dawn printed "Couldn't load Vulkan" above, ` +
        `the Vulkan loader libvulkan.so.1 is missing). ${WHAT_WORKS} In a browser, WebGPU runs in Chrome, Edge and Safari (npm run build:web).`,
    );
  }
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(" ") || "unnamed";
  return { device: await requestTrainingDevice(adapter), adapter: name };
}
