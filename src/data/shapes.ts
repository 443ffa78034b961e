/**
 * Row shapes of a JSONL dataset. The shape is detected from the first row of each file; every later row of
 * that file must have the same shape. Errors name `file:line`, what the row has and what was expected.
 *
 *   text               {"text": string}                                     loss on every token
 *   prompt_completion  {"prompt": string, "completion": string}             loss on the completion
 *   messages           {"messages": [{"role": string, "content": string}]}  loss on assistant turns
 *                      (content may also be a list of {"type": "text", "text": string} parts, joined)
 *   sharegpt           {"conversations": [{"from": string, "value": string}]}  read as messages: from human/user
 *                      → user, gpt/assistant/model/chatgpt → assistant, system → system, tool/function → tool
 *   alpaca             {"instruction": string, "input"?: string, "output": string}  loss on the output
 *   tokens             {"input_ids": int[], "labels"?: int[]}               used as is (-100 = no loss)
 *
 * Keys other than these are ignored (an "id" or "source" column is fine).
 */
import { LoratuneError } from "../errors.ts";

export type RowShape = "text" | "prompt_completion" | "messages" | "sharegpt" | "alpaca" | "tokens";

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** A parsed row; ShareGPT rows are returned as "messages" rows. */
export type Row =
  | { shape: "text"; text: string }
  | { shape: "prompt_completion"; prompt: string; completion: string }
  | { shape: "messages"; messages: ChatMessage[] }
  | { shape: "alpaca"; instruction: string; input: string; output: string }
  | { shape: "tokens"; inputIds: number[]; labels: number[] | null };

/** Where a row came from, for error messages: `file:line`, or `at` when given (a Parquet row's file, row group, row). */
export interface RowSource {
  file: string;
  line: number;
  at?: string | undefined;
}

/** The row's place as messages name it: "data.jsonl:12" or "data.parquet (row group 0, row 12)". */
export const rowPlace = (src: RowSource): string => src.at ?? `${src.file}:${src.line}`;

export const SHAPE_HELP =
  'expected one of {"text"}, {"prompt","completion"}, {"messages":[{"role","content"}]}, ' +
  '{"conversations":[{"from","value"}]} (ShareGPT), {"instruction","input","output"} (Alpaca) or ' +
  '{"input_ids","labels"?}';

/**
 * Which shape a parsed JSON row has, by its keys; checked in the order messages, sharegpt, tokens, alpaca,
 * prompt_completion, text.
 */
export function detectShape(value: unknown, src: RowSource): RowShape {
  const obj = asObject(value, src);
  if ("messages" in obj) return "messages";
  if ("conversations" in obj) return "sharegpt";
  if ("input_ids" in obj) return "tokens";
  if ("instruction" in obj && "output" in obj) return "alpaca";
  if ("prompt" in obj && "completion" in obj) return "prompt_completion";
  if ("text" in obj) return "text";
  const keys = Object.keys(obj);
  throw dataError(
    src,
    `row has keys ${keys.length ? keys.map((k) => JSON.stringify(k)).join(", ") : "(none)"}; ${SHAPE_HELP}`,
  );
}

/**
 * Check a row against the file's shape and return it typed. `fileShape` is the shape found on line
 * `shapeLine` of the same file (used to explain a mixed-shape error).
 */
export function parseRow(value: unknown, fileShape: RowShape, shapeLine: number, src: RowSource): Row {
  const shape = detectShape(value, src);
  if (shape !== fileShape) {
    throw dataError(
      src,
      `row has shape "${shape}" but this file's shape is "${fileShape}" (from line ${shapeLine}); ` +
        "all rows of one file must have the same shape",
    );
  }
  const obj = value as Record<string, unknown>;
  switch (shape) {
    case "text":
      return { shape, text: str(obj, "text", src) };
    case "prompt_completion":
      return { shape, prompt: str(obj, "prompt", src), completion: str(obj, "completion", src) };
    case "alpaca":
      return {
        shape,
        instruction: str(obj, "instruction", src),
        input: obj.input === undefined || obj.input === null ? "" : str(obj, "input", src),
        output: str(obj, "output", src),
      };
    case "messages":
      return { shape, messages: messages(obj.messages, src) };
    case "sharegpt":
      return { shape: "messages", messages: shareGptMessages(obj.conversations, src) };
    case "tokens":
      return tokens(obj, src);
  }
}

function asObject(value: unknown, src: RowSource): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    throw dataError(src, `row is ${kind}, not a JSON object; ${SHAPE_HELP}`);
  }
  return value as Record<string, unknown>;
}

function str(obj: Record<string, unknown>, key: string, src: RowSource): string {
  const v = obj[key];
  if (typeof v !== "string") throw dataError(src, `"${key}" must be a string, got ${describe(v)}`);
  return v;
}

/** The turns of a conversation: a non-empty array of JSON objects under `key`; `fields` names theirs in errors. */
function turns(v: unknown, key: string, fields: string, src: RowSource): Record<string, unknown>[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw dataError(src, `"${key}" must be a non-empty array of {${fields}}, got ${describe(v)}`);
  }
  return v.map((m, i) => {
    if (m === null || typeof m !== "object" || Array.isArray(m)) {
      throw dataError(src, `${key}[${i}] must be an object {${fields}}, got ${describe(m)}`);
    }
    return m as Record<string, unknown>;
  });
}

function messages(v: unknown, src: RowSource): ChatMessage[] {
  return turns(v, "messages", '"role","content"', src).map((msg, i) => {
    if (typeof msg.role !== "string" || msg.role === "") {
      throw dataError(src, `messages[${i}].role must be a non-empty string, got ${describe(msg.role)}`);
    }
    return { ...msg, content: messageContent(msg.content, `messages[${i}].content`, src) } as ChatMessage;
  });
}

/** A message's content: a string, or a list of text parts [{"type": "text", "text": string}] joined in order. */
function messageContent(v: unknown, where: string, src: RowSource): string {
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) {
    throw dataError(src, `${where} must be a string or a list of {"type":"text","text"} parts, got ${describe(v)}`);
  }
  return v
    .map((part, j) => {
      const p = part as Record<string, unknown> | null;
      if (p === null || typeof p !== "object" || Array.isArray(p) || p.type !== "text" || typeof p.text !== "string") {
        const type = p !== null && typeof p === "object" && typeof p.type === "string" ? ` of type "${p.type}"` : "";
        throw dataError(
          src,
          `${where}[${j}] is ${describe(part)}${type}; only {"type":"text","text":string} parts are supported ` +
            "(loratune trains text-only models)",
        );
      }
      return p.text as string;
    })
    .join("");
}

/** ShareGPT "from" values and the chat roles they become. */
const SHAREGPT_ROLES: Record<string, string> = {
  system: "system",
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  model: "assistant",
  chatgpt: "assistant",
  tool: "tool",
  function: "tool",
};

function shareGptMessages(v: unknown, src: RowSource): ChatMessage[] {
  return turns(v, "conversations", '"from","value"', src).map((turn, i) => {
    const role = typeof turn.from === "string" ? SHAREGPT_ROLES[turn.from.toLowerCase()] : undefined;
    if (role === undefined) {
      const known = Object.keys(SHAREGPT_ROLES).join(", ");
      throw dataError(src, `conversations[${i}].from is ${describe(turn.from)}, expected one of ${known}`);
    }
    if (typeof turn.value !== "string") {
      throw dataError(src, `conversations[${i}].value must be a string, got ${describe(turn.value)}`);
    }
    return { role, content: turn.value };
  });
}

function tokens(obj: Record<string, unknown>, src: RowSource): Row {
  const ids = intArray(obj.input_ids, "input_ids", src, false);
  if (ids.length === 0) throw dataError(src, `"input_ids" is empty`);
  if (obj.labels === undefined || obj.labels === null) return { shape: "tokens", inputIds: ids, labels: null };
  const labels = intArray(obj.labels, "labels", src, true);
  if (labels.length !== ids.length) {
    throw dataError(src, `"labels" has ${labels.length} entries but "input_ids" has ${ids.length}; they must align`);
  }
  return { shape: "tokens", inputIds: ids, labels };
}

/** An array of non-negative integers (or -100 when `allowIgnore`). */
function intArray(v: unknown, key: string, src: RowSource, allowIgnore: boolean): number[] {
  if (!Array.isArray(v)) throw dataError(src, `"${key}" must be an array of integers, got ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    const ok = Number.isInteger(x) && ((x as number) >= 0 || (allowIgnore && x === -100));
    if (!ok) {
      const want = allowIgnore ? "a token id >= 0 or -100" : "a token id >= 0";
      throw dataError(src, `${key}[${i}] is ${describe(x)}, expected ${want}`);
    }
  }
  return v as number[];
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing (key missing)";
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "an object";
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? `${s.slice(0, 37)}...` : s}`;
}

export function dataError(src: RowSource, msg: string): LoratuneError {
  return new LoratuneError("ERR_DATA", `${rowPlace(src)}: ${msg}`);
}
