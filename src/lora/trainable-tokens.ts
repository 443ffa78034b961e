/**
 * New tokens (train --add-tokens), in PEFT's `trainable_token_indices` semantics: the vocabulary grows by n rows,
 * and only those rows train, beside the adapter.
 *
 * Resizing follows transformers' resize_token_embeddings (mean_resizing, its default since 4.46): the new rows of
 * the embedding table [V, C] (and of an untied head) start at the mean of the old rows. transformers adds a
 * sample of N(0, 1e-9·Σ) to that mean; loratune takes the mean itself, so a resize is deterministic.
 *
 * Training: the new tokens' ids are contiguous (from len(tokenizer) upwards, as transformers assigns them), so their
 * TrainableParam is a view (subarray) of `embed` and of `dEmbed` (and of the untied head and `dLmHead`): other rows
 * never move. The table grows to hold them when it is smaller (usually it is exactly len(tokenizer)); a model whose
 * table already has spare rows past its tokenizer (Qwen's) keeps its size, and those rows are the ones trained.
 *
 * On disk (PEFT's TrainableTokensLayer; its delta holds the rows' values themselves, written over the base rows by
 * index, not added to them):
 *   base_model.model.<embedding module>.token_adapter.trainable_tokens_delta   [n, C]
 *   base_model.model.<head module>.token_adapter.trainable_tokens_delta        [n, C]   (untied head only)
 * adapter_config.json: `trainable_token_indices` a list of ids (tied model: PEFT ties the head to the embedding's
 * delta) or {"embed_tokens": ids, "lm_head": ids} (untied head). Loading resizes the base to the largest id + 1
 * when it is smaller, then writes the rows.
 */
import { LoratuneError } from "../errors.ts";
import { embeddingSpec, type Model } from "../model/model.ts";
import type { StoredTensor } from "../tensor/stored-tensor.ts";
import type { TrainableParam } from "../tensor/trainable.ts";

/** PEFT's trainable_token_indices, normalised: the ids of each wrapped module, by the name the config gives it. */
export type TokenIndices = Record<string, number[]>;

/** One module whose rows the adapter holds: the table it writes into and the PEFT key of its delta. */
interface TokenTarget {
  entry: string;
  module: string;
  kind: "embedding" | "head";
  key: string;
  ids: number[];
}

const deltaKey = (module: string) => `base_model.model.${module}.token_adapter.trainable_tokens_delta`;

/** The model's embedding and head module names ("model.embed_tokens", "lm_head"). */
function moduleNames(model: Model): { embedding: string; head: string } {
  return {
    embedding: embeddingSpec(model.specs).name.replace(/\.weight$/, ""),
    head: model.family.headName.replace(/\.weight$/, ""),
  };
}

/**
 * The modules `indices` names (a key is the module's name or its last dot-separated parts, as PEFT matches it):
 * the embedding, and the head when untied. ERR_ADAPTER_CONFIG for any other module.
 */
export function resolveTokenTargets(model: Model, indices: TokenIndices): TokenTarget[] {
  const names = moduleNames(model);
  const tied = model.config.tieWordEmbeddings;
  const matches = (module: string, entry: string) => module === entry || module.endsWith(`.${entry}`);
  return Object.entries(indices).map(([entry, ids]) => {
    const kind = matches(names.embedding, entry) ? "embedding" : matches(names.head, entry) ? "head" : null;
    if (kind === null || (kind === "head" && tied)) {
      const why = kind === "head" ? " (this model ties its head to the embedding, whose rows it shares)" : "";
      throw new LoratuneError(
        "ERR_ADAPTER_CONFIG",
        `trainable_token_indices names "${entry}", which loratune cannot hold${why}; it holds rows of ${names.embedding}${tied ? "" : ` and ${names.head}`}`,
      );
    }
    const module = kind === "embedding" ? names.embedding : names.head;
    return { entry, module, kind, key: deltaKey(module), ids };
  });
}

/** The trainable_token_indices a run adding `count` tokens at ids [start, start + count) writes for `model`. */
export function newTokenIndices(model: Model, start: number, count: number): TokenIndices {
  const ids = Array.from({ length: count }, (_, i) => start + i);
  const { embedding, head } = moduleNames(model);
  const last = (m: string) => m.slice(m.lastIndexOf(".") + 1);
  return model.config.tieWordEmbeddings ? { [last(embedding)]: ids } : { [last(embedding)]: ids, [last(head)]: ids };
}

/** trainable_token_indices as PEFT writes it: the bare list when only the embedding is named, else the dict. */
export function tokenIndicesJson(indices: TokenIndices | null | undefined): number[] | TokenIndices | null {
  if (!indices) return null;
  const keys = Object.keys(indices);
  return keys.length === 1 && keys[0] === "embed_tokens" ? [...indices[keys[0]]!] : structuredClone(indices);
}

/** Reads trainable_token_indices: null, a list of ids (the embedding's, "embed_tokens") or {module: ids}. */
export function readTokenIndices(raw: Record<string, unknown>, fail: (msg: string) => never): TokenIndices | null {
  const v = raw.trainable_token_indices;
  if (v == null) return null;
  const isIds = (x: unknown): x is number[] =>
    Array.isArray(x) && x.every((id) => Number.isInteger(id) && id >= 0 && id < 1 << 24);
  if (isIds(v)) return v.length > 0 ? { embed_tokens: [...v] } : null;
  if (typeof v === "object" && !Array.isArray(v) && Object.values(v).every(isIds)) {
    const entries = Object.entries(v as Record<string, number[]>).filter(([, ids]) => ids.length > 0);
    return entries.length > 0 ? Object.fromEntries(entries.map(([k, ids]) => [k, [...ids]])) : null;
  }
  return fail(
    `trainable_token_indices must be a list of token ids or {"module": [ids]} (got ${JSON.stringify(v).slice(0, 80)})`,
  );
}

/** `t` [V, C] grown to [V + n, C], the new rows at the mean of the old ones (f32 only). */
function grownTable(t: StoredTensor, n: number, what: string): StoredTensor {
  if (t.dtype !== "f32") {
    throw new LoratuneError(
      "ERR_USAGE",
      `new tokens resize ${what}, which needs it in f32 (it is held as ${t.dtype}): use --dtype f32 without --quantize`,
    );
  }
  const [V, C] = t.shape as [number, number];
  const old = t.data as Float32Array;
  const data = new Float32Array((V + n) * C);
  data.set(old);
  const mean = new Float64Array(C);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) mean[c]! += old[v * C + c]!;
  for (let r = V; r < V + n; r++) for (let c = 0; c < C; c++) data[r * C + c] = mean[c]! / V;
  return { dtype: t.dtype, shape: [V + n, C], data };
}

/**
 * Grows the vocabulary of `model` to `size` rows (embedding, an untied head, the config's vocab_size and the
 * specs); a tied head stays the embedding table. No-op when it is already that large.
 */
export function resizeVocabulary(model: Model, size: number): void {
  const V = model.embed.shape[0]!;
  if (size <= V) return;
  const { embedding, head } = moduleNames(model);
  const tied = model.lmHead === model.embed;
  model.embed = grownTable(model.embed, size - V, embedding);
  model.tensors.set(`${embedding}.weight`, model.embed);
  if (tied) model.lmHead = model.embed;
  else {
    model.lmHead = grownTable(model.lmHead, size - V, head);
    model.tensors.set(`${head}.weight`, model.lmHead);
  }
  model.config = { ...model.config, vocabSize: size };
  model.specs = model.specs.map((s) =>
    s.role === "embedding" || s.role === "head" ? { ...s, shape: [size, ...s.shape.slice(1)] } : s,
  );
}

const tableOf = (model: Model, t: TokenTarget) => (t.kind === "embedding" ? model.embed : model.lmHead);

/**
 * Makes the rows `indices` names trainable, one contiguous run [start, start + n) per table (the new tokens' ids;
 * usually the tail, but a model whose table is larger than its tokenizer, as Qwen's, gets them inside): views of
 * the table and of its gradient (dEmbed, dLmHead allocated whole; backward writes every row, only the run is read
 * and zeroed).
 */
export function trainTokenRows(model: Model, indices: TokenIndices): TrainableParam[] {
  return resolveTokenTargets(model, indices).map((t) => {
    const table = tableOf(model, t);
    const C = table.shape[1]!;
    const start = t.ids[0]!;
    const end = start + t.ids.length;
    if (t.ids.some((id, i) => id !== start + i) || end > table.shape[0]!) {
      throw new LoratuneError("ERR_USAGE", `${t.module}: only a contiguous run of rows inside the table can train`);
    }
    const grad = new Float32Array(table.data.length);
    if (t.kind === "embedding") model.dEmbed = grad;
    else model.dLmHead = grad;
    const data = (table.data as Float32Array).subarray(start * C, end * C);
    return { name: t.key, shape: [t.ids.length, C], data, grad: grad.subarray(start * C, end * C) };
  });
}

/** Each target's rows [n, C] under its PEFT key (copies). */
export function tokenRowTensors(
  model: Model,
  indices: TokenIndices,
): { name: string; shape: number[]; data: Float32Array }[] {
  return resolveTokenTargets(model, indices).map((t) => {
    const table = tableOf(model, t);
    const C = table.shape[1]!;
    const rows = table.data as Float32Array;
    const data = new Float32Array(t.ids.length * C);
    t.ids.forEach((id, i) => {
      data.set(rows.subarray(id * C, (id + 1) * C), i * C);
    });
    return { name: t.key, shape: [t.ids.length, C], data };
  });
}

/** The largest id `indices` names, + 1 (the vocabulary the base needs), or 0. */
export function vocabularyNeeded(indices: TokenIndices | null | undefined): number {
  let n = 0;
  for (const ids of Object.values(indices ?? {})) for (const id of ids) n = Math.max(n, id + 1);
  return n;
}

/** The [n, C] shape each target's delta has in the adapter file, by key. */
export function tokenRowShapes(
  model: Model,
  indices: TokenIndices,
): { key: string; module: string; shape: number[] }[] {
  return resolveTokenTargets(model, indices).map((t) => ({
    key: t.key,
    module: t.module,
    shape: [t.ids.length, tableOf(model, t).shape[1]!],
  }));
}

/** Writes the adapter file's rows into the model's tables (resized first); values must be finite. */
export function fillTokenRows(
  model: Model,
  indices: TokenIndices,
  tensors: Map<string, StoredTensor>,
  path: string,
): void {
  resizeVocabulary(model, vocabularyNeeded(indices));
  for (const t of resolveTokenTargets(model, indices)) {
    const src = tensors.get(t.key);
    if (!src) throw new LoratuneError("ERR_ADAPTER_KEYS", `${path}: missing ${t.key} (trainable_token_indices)`);
    const table = tableOf(model, t);
    if (table.dtype !== "f32") {
      throw new LoratuneError(
        "ERR_USAGE",
        `${path}: the adapter writes rows of ${t.module}, held as ${table.dtype}; load it with --dtype f32 without --quantize`,
      );
    }
    const C = table.shape[1]!;
    const data = src.data as Float32Array;
    const bad = data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      throw new LoratuneError("ERR_NONFINITE", `${path}: tensor "${t.key}" holds ${data[bad]} at index ${bad}`);
    const rows = table.data as Float32Array;
    t.ids.forEach((id, i) => {
      rows.set(data.subarray(i * C, (i + 1) * C), id * C);
    });
  }
}
