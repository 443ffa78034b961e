/**
 * --rank-pattern / --alpha-pattern / --layers-pattern: PEFT's rank_pattern, alpha_pattern and layers_pattern as
 * flag values. A pattern map is "KEY=N,KEY=N" (KEY a module-name pattern as PEFT matches it, `(.*\.)?KEY$`, so
 * "v_proj" or "layers\.0\.self_attn\.q_proj"; no commas inside a key); layers_pattern a comma list of names.
 * Each parser has the inverse its --init-adapter values and config.yaml use.
 */
import { LoratuneError } from "../errors.ts";

/** "KEY=N,KEY=N" → {KEY: N}; `integer` requires whole numbers. Throws ERR_USAGE naming the flag. */
export function parsePatternMap(flag: string, value: string, integer: boolean): Record<string, number> {
  const problem = patternMapProblem(value, integer);
  if (problem) throw new LoratuneError("ERR_USAGE", `${flag}: ${problem}`);
  const out: Record<string, number> = {};
  for (const entry of entries(value)) {
    const at = entry.lastIndexOf("=");
    Object.defineProperty(out, entry.slice(0, at).trim(), {
      value: Number(entry.slice(at + 1)),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Why a "KEY=N,…" value is not a pattern map, or null (the option table's check). */
export function patternMapProblem(value: unknown, integer: boolean): string | null {
  for (const entry of entries(String(value))) {
    const at = entry.lastIndexOf("=");
    const key = entry.slice(0, at).trim();
    const n = Number(entry.slice(at + 1));
    if (at <= 0 || key === "") return `"${entry}" is not KEY=N (e.g. v_proj=16)`;
    if (!(Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n)))) {
      return `"${entry}": ${integer ? "a positive integer" : "a positive number"} is expected after "="`;
    }
  }
  return null;
}

/** {KEY: N} → "KEY=N,KEY=N" (undefined when empty). */
export function patternMapText(map: Record<string, number>): string | undefined {
  const parts = Object.entries(map).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(",") : undefined;
}

/** "layers,h" → ["layers", "h"] (null when empty). */
export function parseLayersPattern(value: string | undefined): string[] | null {
  const names = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length > 0 ? names : null;
}

function entries(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
