/**
 * A sweep's search space: one dimension per searched train setting, written as a flag value or in the config
 * file's `sweep:` section.
 *
 *   --rank 4,16,64                 a list (ints)
 *   --lr 1e-4..1e-2:log            a range, sampled log-uniformly (":lin" uniformly; log is the default for lr);
 *   --lr 1e-4,3e-4,1e-3            or a list
 *   --alpha 2r,16                  numbers, or a multiple of the trial's rank ("2r" = 2 × rank)
 *   --dropout 0,0.05 | 0..0.1      a list or a range in [0, 1)
 *   --targets q_proj,v_proj|all-linear   alternatives separated by "|", each a --targets value
 *
 * Every problem is an error naming the setting and the token that is wrong.
 */
import { LoratuneError } from "../errors.ts";
import type { Rng } from "../tensor/rng.ts";

/** The settings a sweep can search, in the order trials are named and tables are laid out. */
export const SPACE_KEYS = ["rank", "lr", "alpha", "dropout", "targets"] as const;
export type SpaceKey = (typeof SPACE_KEYS)[number];

export type SpaceValue = number | string;

export type Dimension =
  | { key: SpaceKey; kind: "list"; values: SpaceValue[] }
  | { key: SpaceKey; kind: "range"; lo: number; hi: number; scale: "log" | "linear" };

export interface SearchSpace {
  dims: Dimension[];
}

/** One trial's settings: rank, lr, dropout as numbers, alpha resolved against the rank, targets as text. */
export type TrialConfig = Partial<Record<SpaceKey, SpaceValue>>;

const usage = (key: string, token: string, problem: string) =>
  new LoratuneError("ERR_USAGE", `--${key}: "${token}" ${problem}`);

/** A number token in a setting's bounds, or an error naming the token. */
function numberToken(key: SpaceKey, token: string): number {
  const t = token.trim();
  const n = t === "" ? Number.NaN : Number(t);
  if (!Number.isFinite(n)) throw usage(key, token, "is not a number");
  if (key === "rank" && (!Number.isSafeInteger(n) || n < 1)) throw usage(key, token, "is not a rank (an integer ≥ 1)");
  if ((key === "lr" || key === "alpha") && !(n > 0)) throw usage(key, token, "must be greater than 0");
  if (key === "dropout" && !(n >= 0 && n < 1)) throw usage(key, token, "must be in [0, 1)");
  return n;
}

/** An alpha token: a number, or "<k>r" for k × rank (kept as text, resolved per trial). */
function alphaToken(token: string): SpaceValue {
  const m = /^\s*(\d+(?:\.\d+)?)r\s*$/.exec(token);
  if (m) {
    if (!(Number(m[1]) > 0)) throw usage("alpha", token, "must be a positive multiple of the rank");
    return `${Number(m[1])}r`;
  }
  if (/r/.test(token)) throw usage("alpha", token, 'is neither a number nor a multiple of the rank like "2r"');
  return numberToken("alpha", token);
}

/** A range "lo..hi[:log|:lin]" of a continuous setting. */
function parseRange(key: SpaceKey, text: string): Dimension {
  if (key === "rank" || key === "targets" || key === "alpha")
    throw usage(key, text, `is a range, but --${key} takes a list (comma-separated)`);
  const m = /^([^:]*)\.\.([^:]*)(?::(.*))?$/.exec(text.trim());
  if (!m) throw usage(key, text, "is not a range (expected lo..hi, lo..hi:log or lo..hi:lin)");
  const scaleText = m[3] ?? (key === "lr" ? "log" : "lin");
  if (scaleText !== "log" && scaleText !== "lin")
    throw usage(key, text, `has the unknown scale ":${scaleText}" (expected :log or :lin)`);
  if (m[1]!.trim() === "" || m[2]!.trim() === "") throw usage(key, text, "is not a range: it needs both ends (lo..hi)");
  const lo = numberToken(key, m[1]!);
  const hi = numberToken(key, m[2]!);
  if (!(lo < hi)) throw usage(key, text, "is not a range: its low end must be below its high end");
  if (scaleText === "log" && lo <= 0) throw usage(key, text, "cannot be log-scaled: its low end must be above 0");
  return { key, kind: "range", lo, hi, scale: scaleText === "log" ? "log" : "linear" };
}

/** One dimension from its flag text (or a config value: a list becomes the comma-separated text). */
export function parseDimension(key: string, value: unknown): Dimension {
  if (!(SPACE_KEYS as readonly string[]).includes(key)) {
    throw new LoratuneError(
      "ERR_USAGE",
      `sweep: "${key}" is not a setting a sweep can search (it searches ${SPACE_KEYS.join(", ")})`,
    );
  }
  const k = key as SpaceKey;
  const text = Array.isArray(value) ? value.join(k === "targets" ? "|" : ",") : String(value);
  if (text.trim() === "") throw usage(k, text, "is empty");
  if (k === "targets") {
    const values = text.split("|").map((t) => t.trim());
    const empty = values.find((t) => t === "");
    if (empty !== undefined) throw usage(k, text, 'has an empty alternative (alternatives are separated by "|")');
    return { key: k, kind: "list", values: [...new Set(values)] };
  }
  if (text.includes("..")) return parseRange(k, text);
  const tokens = text.split(",");
  if (tokens.some((t) => t.trim() === "")) throw usage(k, text, 'has an empty item (values are separated by ",")');
  const values = tokens.map((t) => (k === "alpha" ? alphaToken(t) : numberToken(k, t)));
  return { key: k, kind: "list", values: [...new Set(values)] };
}

/** The space from the given dimensions (flag texts or config values), in SPACE_KEYS order. */
export function parseSpace(given: Partial<Record<string, unknown>>): SearchSpace {
  const dims: Dimension[] = [];
  for (const [key, value] of Object.entries(given)) if (value !== undefined) dims.push(parseDimension(key, value));
  dims.sort((a, b) => SPACE_KEYS.indexOf(a.key) - SPACE_KEYS.indexOf(b.key));
  if (dims.length === 0) {
    throw new LoratuneError(
      "ERR_USAGE",
      "sweep: nothing to search; give at least one of --rank, --lr, --alpha, --dropout, --targets (or a sweep: section)",
    );
  }
  return { dims };
}

/** Resolves "<k>r" alphas against the trial's rank (the base rank when the space has none). */
export function resolveConfig(raw: TrialConfig, baseRank: number): TrialConfig {
  const out = { ...raw };
  if (typeof out.alpha === "string") {
    const rank = typeof out.rank === "number" ? out.rank : baseRank;
    out.alpha = Number.parseFloat(out.alpha) * rank;
  }
  return out;
}

/** Every combination of the lists, the first dimension varying slowest; a range cannot be gridded. */
export function gridConfigs(space: SearchSpace): TrialConfig[] {
  const range = space.dims.find((d) => d.kind === "range");
  if (range) {
    throw new LoratuneError(
      "ERR_USAGE",
      `--strategy grid needs lists, but --${range.key} is a range; give values (e.g. 1e-4,3e-4,1e-3) or use --strategy random or asha`,
    );
  }
  let configs: TrialConfig[] = [{}];
  for (const d of space.dims) {
    const values = (d as { values: SpaceValue[] }).values;
    configs = configs.flatMap((c) => values.map((v) => ({ ...c, [d.key]: v })));
  }
  return configs;
}

/** One random configuration: a list's value uniformly, a range's log-uniformly or uniformly. */
export function sampleConfig(space: SearchSpace, rng: Rng): TrialConfig {
  const out: TrialConfig = {};
  for (const d of space.dims) {
    if (d.kind === "list") out[d.key] = d.values[rng.nextInt(d.values.length)]!;
    else {
      const u = rng.next();
      const v =
        d.scale === "log" ? Math.exp(Math.log(d.lo) + u * (Math.log(d.hi) - Math.log(d.lo))) : d.lo + u * (d.hi - d.lo);
      out[d.key] = Number(v.toPrecision(3));
    }
  }
  return out;
}

/** How a dimension is written back (sweep.json, the report): "4,16,64", "0.0001..0.01:log", "q_proj|all-linear". */
export function dimensionText(d: Dimension): string {
  if (d.kind === "range") return `${d.lo}..${d.hi}:${d.scale === "log" ? "log" : "lin"}`;
  return d.values.join(d.key === "targets" ? "|" : ",");
}

/**
 * The setting `--promote-per` names (`token`, as given): a searched setting given as a list, whose values are the
 * groups ASHA halves on their own.
 */
export function promoteKey(token: string, space: SearchSpace): SpaceKey {
  const key = token.trim();
  const bad = (problem: string) => new LoratuneError("ERR_USAGE", `--promote-per: "${token}" ${problem}`);
  if (!(SPACE_KEYS as readonly string[]).includes(key))
    throw bad(`is not a setting a sweep searches (${SPACE_KEYS.join(", ")})`);
  const d = space.dims.find((x) => x.key === key);
  if (!d) throw bad(`is not searched by this sweep (it searches ${space.dims.map((x) => x.key).join(", ")})`);
  if (d.kind === "range")
    throw bad(
      `is searched as a range (${dimensionText(d)}); promotion per value needs a list of values, e.g. --${key} ${d.lo},${d.hi}`,
    );
  return d.key;
}
