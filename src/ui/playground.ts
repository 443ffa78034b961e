/**
 * The Playground's models: a run's base model, and the same base with the run's adapter attached (unmerged),
 * each loaded once and kept while the adapter file is unchanged (a resumed run rewrites it). Generation is the
 * library's generateStream, with the sampling options of `loratune generate` (GENERATE_OPTIONS).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { GENERATE_OPTIONS, type GeneratedToken, type GenerateOutput, generateStream } from "../api/generate.ts";
import { type LoadedModel, loadModel } from "../api/models.ts";
import { camelKey, type OptionValues, validateOptions } from "../api/options.ts";
import { HttpError } from "../errors.ts";

/** The sampling settings the Playground offers (keys of GENERATE_OPTIONS). */
export const SAMPLING_KEYS = ["max-tokens", "temperature", "top-p", "top-k", "repetition-penalty", "seed"] as const;

/** Models kept in memory at most (base and adapted of two runs). */
const CACHE_SIZE = 4;

export class ModelCache {
  private readonly loaded = new Map<string, Promise<LoadedModel>>();

  /** The run's base model, or (adapted) the base with the run's adapter. */
  get(model: string, runDir: string, adapted: boolean): Promise<LoadedModel> {
    const adapterFile = join(runDir, "adapter_model.safetensors");
    if (adapted && !existsSync(adapterFile))
      throw new HttpError(409, `${runDir} has no adapter yet (a run writes it when it stops or finishes)`);
    const key = adapted ? `${model}\0${runDir}\0${statSync(adapterFile).mtimeMs}` : model;
    let entry = this.loaded.get(key);
    if (!entry) {
      entry = loadModel(model, adapted ? { adapter: runDir } : {});
      this.loaded.set(key, entry);
      entry.catch(() => this.loaded.delete(key));
      while (this.loaded.size > CACHE_SIZE) this.loaded.delete(this.loaded.keys().next().value!);
    }
    return entry;
  }
}

/** The sampling options of a request, checked against generate's table (errors in its flag wording). */
export function samplingOptions(given: Record<string, unknown>): Record<string, number> {
  const values: OptionValues = {};
  for (const key of SAMPLING_KEYS) {
    const v = given[key];
    if (v !== undefined && v !== null && v !== "") values[key] = v as OptionValues[string];
  }
  const checked = validateOptions(GENERATE_OPTIONS, values);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(checked)) out[camelKey(k)] = v as number;
  return out;
}

/** One earlier turn of a Playground chat. */
export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

/** Turns of a chat kept at most (older ones are the page's to drop). */
export const MAX_TURNS = 64;

/** A request's `history`: earlier turns, alternating as the page keeps them; 400 naming the problem otherwise. */
export function chatHistory(v: unknown): ChatTurn[] {
  if (v === undefined) return [];
  const ok = (t: unknown): t is ChatTurn =>
    typeof t === "object" &&
    t !== null &&
    ((t as ChatTurn).role === "user" || (t as ChatTurn).role === "assistant") &&
    typeof (t as ChatTurn).content === "string";
  if (!Array.isArray(v) || v.length > MAX_TURNS || !v.every(ok))
    throw new HttpError(
      400,
      `"history": expected at most ${MAX_TURNS} turns of {"role": "user" or "assistant", "content": text}`,
    );
  return v.map((t) => ({ role: t.role, content: t.content }));
}

/**
 * Streams a completion of `prompt`: as text, or (chat) as the next user turn after `history`, rendered with the
 * model's chat template (the run's own, kept as chat_template.jinja) and its generation prompt, as `generate --chat`
 * renders one turn.
 */
export function streamCompletion(
  loaded: LoadedModel,
  prompt: string,
  chat: boolean,
  history: ChatTurn[],
  sampling: Record<string, number>,
  signal: AbortSignal,
): AsyncGenerator<GeneratedToken, GenerateOutput> {
  const tok = loaded.tokenizer;
  if (!chat || history.length === 0 || tok === null || tok.chatTemplate === null)
    return generateStream({ model: loaded, prompt, chat, ...sampling, signal });
  const text = tok.applyChatTemplate([...history, { role: "user", content: prompt }], { addGenerationPrompt: true });
  return generateStream({ model: loaded, promptIds: tok.encodeText(text), ...sampling, signal });
}
