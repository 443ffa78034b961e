/** One key style in every JSON output of the CLI: snake_case. */

/** "tokensPerS" → "tokens_per_s", "batch-size" → "batch_size", "peakRssMiB" → "peak_rss_mib". */
export function snakeCase(key: string): string {
  return key
    .replace(/MiB/g, "Mib")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .toLowerCase();
}

/** A copy of `value` with every object key in snake_case, recursively (arrays and values kept). */
export function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[snakeCase(k)] = snakeCaseKeys(v);
  return out;
}
