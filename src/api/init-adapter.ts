/**
 * `--init-adapter DIR`: training starts from an existing PEFT adapter, so the adapter's own shape settings
 * (rank, alpha, targets, rsLoRA, layers) are the run's. Values the user set are compared with the adapter's and a
 * difference is refused (it could never take effect), never silently ignored.
 */
import { LoratuneError } from "../errors.ts";
import { isLoraConfig } from "../lora/config.ts";
import type { AdapterConfig } from "../lora/method.ts";
import { readAdapterConfig } from "../lora/peft-files.ts";
import type { OptionValues } from "./options.ts";
import { patternMapText } from "./pattern-options.ts";

/**
 * The adapter's settings as option values (keys as the flags): its targets, layers and layers_pattern, and for
 * LoRA (and its variants) its rank, alpha, rsLoRA, DoRA, rank_pattern and alpha_pattern.
 */
export function adapterOptionValues(adapter: AdapterConfig): OptionValues {
  const t = adapter.targetModules;
  const targets = Array.isArray(t) ? t.join(",") : t === "all-linear" ? t : `re:${t}`;
  const layers = adapter.layersToTransform ? adapter.layersToTransform.join(",") : undefined;
  const layersPattern = adapter.layersPattern?.join(",");
  const modulesToSave = adapter.modulesToSave?.join(",");
  if (!isLoraConfig(adapter)) {
    return { targets, layers, "layers-pattern": layersPattern, "modules-to-save": modulesToSave };
  }
  return {
    rank: adapter.r,
    alpha: adapter.loraAlpha,
    targets,
    rslora: adapter.useRslora,
    dora: adapter.method === "dora",
    layers,
    "layers-pattern": layersPattern,
    "rank-pattern": patternMapText(adapter.rankPattern),
    "alpha-pattern": patternMapText(adapter.alphaPattern),
    "modules-to-save": modulesToSave,
  };
}

/** A comparable form of an option value: target lists and layer lists compare as sets. */
function canonical(key: string, v: unknown): string {
  if (v === undefined || v === null) return "";
  if ((key === "targets" || key === "layers") && typeof v === "string" && !v.startsWith("re:") && v !== "all-linear")
    return v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .sort()
      .join(",");
  return String(v);
}

/**
 * Fills the adapter's settings into `values`; `explicit` are the keys the user set (flag or config file). An
 * explicit value that differs from the adapter's is an error naming the setting and both values.
 */
export function applyInitAdapter(dir: string, values: OptionValues, explicit: Set<string>): OptionValues {
  const fromAdapter = adapterOptionValues(readAdapterConfig(dir));
  const conflicts: string[] = [];
  const out = { ...values };
  for (const [key, v] of Object.entries(fromAdapter)) {
    if (explicit.has(key) && canonical(key, values[key]) !== canonical(key, v))
      conflicts.push(`--${key} ${values[key]} (the adapter has ${v ?? "none"})`);
    out[key] = v;
  }
  if (conflicts.length > 0) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--init-adapter ${dir} fixes the adapter's shape, so these settings cannot apply: ${conflicts.join("; ")}. Leave them out, or train a fresh adapter without --init-adapter.`,
    );
  }
  return out;
}

/** Library check: the options' shape settings must match the adapter's (the CLI fills them in first). */
export function checkInitAdapter(dir: string, adapter: AdapterConfig, values: OptionValues): void {
  const fromAdapter = adapterOptionValues(adapter);
  const diffs = Object.entries(fromAdapter)
    .filter(([key, v]) => canonical(key, values[key]) !== canonical(key, v))
    .map(([key, v]) => `${key} ${values[key] ?? "none"} (the adapter has ${v ?? "none"})`);
  if (diffs.length > 0) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--init-adapter ${dir}: the run's settings differ from the adapter's: ${diffs.join("; ")}`,
    );
  }
}
