/**
 * Adapter methods by name, and the method that reads an adapter_config.json. The built-in methods are listed
 * here; a method defined elsewhere (a plug-in, a test fixture) adds itself with registerMethod before its
 * adapters are attached or loaded.
 */
import { LoratuneError } from "../errors.ts";
import { previewJson } from "../io/preview.ts";
import type { AdapterConfig, AdapterMethod } from "./method.ts";
import { dora } from "./methods/dora.ts";
import { lora } from "./methods/lora.ts";

const byName = new Map<string, AdapterMethod>();

/** Makes `method` available by its name and for configs of its peft_type; a name already taken is refused. */
export function registerMethod<C extends AdapterConfig>(method: AdapterMethod<C>): void {
  const taken = byName.get(method.name);
  if (taken !== undefined && taken !== (method as unknown as AdapterMethod)) {
    throw new Error(`adapter method "${method.name}" is already registered`);
  }
  byName.set(method.name, method as unknown as AdapterMethod);
}

registerMethod(lora);
registerMethod(dora);

/** Every registered method's name, in registration order. */
export function registeredMethods(): string[] {
  return [...byName.keys()];
}

/** The method of a config (by AdapterConfig.method). */
export function methodOf(c: AdapterConfig): AdapterMethod {
  const method = byName.get(c.method);
  if (method === undefined) {
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `adapter method ${previewJson(c.method)} is not registered (registered: ${registeredMethods().join(", ")})`,
    );
  }
  return method;
}

/**
 * The method that reads an adapter_config.json: among those of its peft_type, the one whose `reads` accepts it,
 * else the plain one of that type (no `reads`). ERR_ADAPTER_CONFIG naming `path` when none does.
 */
export function methodForConfig(raw: Record<string, unknown>, path: string): AdapterMethod {
  const ofType = [...byName.values()].filter((m) => m.peftType === raw.peft_type);
  if (ofType.length === 0) {
    const types = [...new Set([...byName.values()].map((m) => `"${m.peftType}"`))];
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `${path}: peft_type is ${previewJson(raw.peft_type)}; only ${types.join(", ")} adapters are supported`,
    );
  }
  const specific = ofType.filter((m) => m.reads?.(raw) === true);
  if (specific.length > 1) {
    throw new Error(`${path}: adapter methods ${specific.map((m) => m.name).join(" and ")} both read this config`);
  }
  const method = specific[0] ?? ofType.find((m) => m.reads === undefined);
  if (method === undefined) {
    throw new LoratuneError(
      "ERR_ADAPTER_CONFIG",
      `${path}: no registered adapter method reads this ${previewJson(raw.peft_type)} config (registered: ${ofType.map((m) => m.name).join(", ")})`,
    );
  }
  return method;
}

/** adapter_config.json → the config of the method that reads it. */
export function parseAdapterConfig(raw: Record<string, unknown>, path: string): AdapterConfig {
  return methodForConfig(raw, path).parseConfig(raw, path);
}
