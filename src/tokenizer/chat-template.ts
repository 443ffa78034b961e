/**
 * Chat templates: pick the template from a model directory (chat_template.jinja, chat_template.json, or
 * tokenizer_config.json's `chat_template`: a string, or a list of {name, template} entries as transformers writes
 * when a model has several), or from an override file, and
 * render it with @huggingface/jinja the way transformers' apply_chat_template does (trim_blocks and
 * lstrip_blocks on; `messages`, `add_generation_prompt` and the special-token strings in scope).
 * No file system here (the browser bundle renders templates too): an override file is read by chat-template-file.ts.
 */
import { Template } from "@huggingface/jinja";
import { LoratuneError } from "../errors.ts";

export interface ChatTemplateMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface RenderChatOptions {
  addGenerationPrompt?: boolean;
  bos_token?: string | null;
  eos_token?: string | null;
  unk_token?: string | null;
  pad_token?: string | null;
  /** Extra variables for the template (e.g. `tools`, `enable_thinking`). */
  vars?: Record<string, unknown>;
  /** Where the template came from, for error messages. */
  origin?: string;
}

/** Compiled templates by source text: compiling is much slower than rendering, and datasets render often. */
const compiled = new Map<string, Template>();
const MAX_CACHED = 32;

function compile(source: string, origin: string): Template {
  let t = compiled.get(source);
  if (t) return t;
  try {
    t = new Template(source);
  } catch (err) {
    throw new LoratuneError("ERR_TOKENIZER", `${origin}: chat template does not parse: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(source, t);
  return t;
}

/** Render `messages` with the Jinja `template`; errors (including the template's raise_exception) name `origin`. */
export function renderChat(template: string, messages: ChatTemplateMessage[], opts: RenderChatOptions = {}): string {
  const origin = opts.origin ?? "chat template";
  const t = compile(template, origin);
  try {
    return t.render({
      ...opts.vars,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: opts.bos_token ?? "",
      eos_token: opts.eos_token ?? "",
      unk_token: opts.unk_token ?? "",
      pad_token: opts.pad_token ?? "",
    });
  } catch (err) {
    throw new LoratuneError(
      "ERR_TOKENIZER",
      `${origin}: rendering the chat template failed: ${(err as Error).message} ` +
        `(roles: ${messages.map((m) => m.role).join(", ")})`,
      { cause: err },
    );
  }
}

/**
 * Choose one template from a tokenizer_config.json `chat_template` value: a string is used as is; a list of
 * {name, template} (or an object name -> template) gives `name` if asked, else "default", else the only one.
 * Returns null when `raw` is null/undefined.
 */
export function resolveChatTemplate(raw: unknown, origin: string, name?: string): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === "string") {
    if (name !== undefined && name !== "default") {
      throw new LoratuneError(
        "ERR_TOKENIZER",
        `${origin}: chat template "${name}" asked for, but only one unnamed template exists`,
      );
    }
    return raw;
  }
  const named = namedTemplates(raw, origin);
  const names = [...named.keys()];
  const want = name ?? (named.has("default") ? "default" : names.length === 1 ? names[0] : undefined);
  if (want === undefined) {
    throw new LoratuneError(
      "ERR_TOKENIZER",
      `${origin}: several chat templates (${names.join(", ")}) and none is "default"; choose one by name`,
    );
  }
  const t = named.get(want);
  if (t === undefined) {
    throw new LoratuneError("ERR_TOKENIZER", `${origin}: no chat template named "${want}" (have: ${names.join(", ")})`);
  }
  return t;
}

function namedTemplates(raw: unknown, origin: string): Map<string, string> {
  const out = new Map<string, string>();
  const bad = () =>
    new LoratuneError(
      "ERR_TOKENIZER",
      `${origin}: chat_template must be a string or a list of {"name","template"} objects`,
    );
  if (Array.isArray(raw)) {
    for (const e of raw) {
      if (e === null || typeof e !== "object") throw bad();
      const { name, template } = e as Record<string, unknown>;
      if (typeof name !== "string" || typeof template !== "string") throw bad();
      out.set(name, template);
    }
  } else if (typeof raw === "object" && raw !== null) {
    for (const [name, template] of Object.entries(raw)) {
      if (typeof template !== "string") throw bad();
      out.set(name, template);
    }
  } else throw bad();
  if (out.size === 0) throw bad();
  return out;
}

/** The chat-template sources of a model directory (each absent when the file or key is missing). */
export interface ChatTemplateSources {
  /** The text of chat_template.jinja. */
  jinja?: string | null;
  /** The parsed chat_template.json: {"chat_template": string or named templates}. */
  json?: Record<string, unknown> | null;
  /** tokenizer_config.json's `chat_template` value. */
  config?: unknown;
}

/** A chat template and where it came from (a file name, for messages). */
export interface ChosenChatTemplate {
  template: string;
  origin: string;
}

/**
 * The chat template of directory `dir` and the file it came from: the override (an override file already read,
 * chat-template-file.ts) when given, else the first present of chat_template.jinja, chat_template.json and
 * tokenizer_config.json (transformers' precedence). `name` picks one of several named templates. Null when there
 * is none. `configFile` names where `sources.config` came from (default: tokenizer_config.json in `dir`).
 */
export function chooseChatTemplate(
  dir: string,
  sources: ChatTemplateSources,
  override?: ChosenChatTemplate,
  name?: string,
  configFile = `${dir}/tokenizer_config.json`,
): ChosenChatTemplate | null {
  if (override !== undefined) return override;
  if (sources.jinja !== undefined && sources.jinja !== null) {
    const origin = `${dir}/chat_template.jinja`;
    return { template: resolveChatTemplate(sources.jinja, origin, name) as string, origin };
  }
  if (sources.json !== undefined && sources.json !== null) {
    const origin = `${dir}/chat_template.json`;
    const template = resolveChatTemplate(sources.json.chat_template, origin, name);
    if (template === null) throw new LoratuneError("ERR_TOKENIZER", `${origin}: no "chat_template" key`);
    return { template, origin };
  }
  const template = resolveChatTemplate(sources.config, configFile, name);
  return template === null ? null : { template, origin: configFile };
}
