/**
 * Where the assistant turns are in a chat template's rendering of a whole conversation, found without rendering
 * the conversation turn by turn (templates such as Qwen3's render earlier turns differently once later turns
 * exist, so prefix renderings are not prefixes of the whole).
 *
 * Two markers are learned once per tokenizer by rendering small probe conversations:
 *   header  what add_generation_prompt appends (the assistant header the prompt ends with), e.g.
 *           "<|im_start|>assistant\n", "<start_of_turn>model\n"; "" when the template has none (Mistral).
 *   lead    what the template writes between the generation prompt and the content, e.g. " " for Llama-2 and
 *           Mistral (" " + content); used only by templates without a header.
 *   end     what the template writes right after an assistant message's content, e.g. "<|im_end|>\n",
 *           "<|eot_id|>", " </s>", "<end_of_turn>\n"; "" when nothing.
 * Then, walking the rendering forward once, each assistant turn spans from the end of its header (or from its
 * content, less the lead, when there is no header) to the end of the `end` marker after its content. The content is looked for
 * as given, trimmed (templates that `| trim`), and as the part after "</think>" (templates that drop earlier
 * reasoning). Non-assistant messages are skipped over by finding their content too, so that an assistant
 * reply repeating the user's words is not matched inside the user turn.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { ChatMessage } from "./shapes.ts";

export interface TurnMarkers {
  header: string;
  lead: string;
  end: string;
}

/** Half-open character range [start, end) of assistant message `message` in the rendering. */
export interface TurnSpan {
  message: number;
  start: number;
  end: number;
}

/** Why assistant message `message` could not be located; `from` is where the search for it began. */
export interface TurnNotFound {
  message: number;
  from: number;
  reason: string;
}

const PROBE_USER = "loratuneprobeuserA";
const PROBE_ASSISTANT = "loratuneprobeassistantB";
const PROBE_USER2 = "loratuneprobeuserC";

const markerCache = new WeakMap<Tokenizer, TurnMarkers>();

/**
 * The assistant header, lead and end-of-turn text of `tok`'s chat template, from probe renderings of
 * [user], [user, assistant] and [user, assistant, user]. A template that refuses the probes (e.g. one that
 * requires a system message) gets them with a system message first; errors from rendering propagate.
 */
export function turnMarkers(tok: Tokenizer): TurnMarkers {
  const cached = markerCache.get(tok);
  if (cached) return cached;
  const user = { role: "user", content: PROBE_USER };
  const assistant = { role: "assistant", content: PROBE_ASSISTANT };
  const user2 = { role: "user", content: PROBE_USER2 };
  const probe = (head: ChatMessage[]) => {
    const render = (msgs: ChatMessage[], gen: boolean) =>
      tok.applyChatTemplate([...head, ...msgs], { addGenerationPrompt: gen });
    const withPrompt = render([user], true);
    const header = withPrompt.slice(divergence(withPrompt, render([user], false), tok));
    const two = render([user, assistant], false);
    const three = render([user, assistant, user2], false);
    const at2 = two.indexOf(PROBE_ASSISTANT);
    const at3 = three.indexOf(PROBE_ASSISTANT);
    if (at2 < 0 || at3 < 0) return { header, lead: "", end: "" };
    const lead = two.startsWith(withPrompt) ? two.slice(withPrompt.length, at2) : "";
    const tail2 = two.slice(at2 + PROBE_ASSISTANT.length);
    const tail3 = three.slice(at3 + PROBE_ASSISTANT.length);
    return { header, lead, end: tail2.slice(0, divergence(tail2, tail3, tok)) };
  };
  let markers: TurnMarkers;
  try {
    markers = probe([]);
  } catch (err) {
    try {
      markers = probe([{ role: "system", content: "loratuneprobesystem" }]);
    } catch {
      throw err;
    }
  }
  markerCache.set(tok, markers);
  return markers;
}

/**
 * Length of the common prefix of `a` and `b`, moved back to the start of an added token (e.g. "<|assistant|>"
 * vs "<|endoftext|>" share "<|") that the first difference falls inside of in either string.
 */
function divergence(a: string, b: string, tok: Tokenizer): number {
  let n = 0;
  const max = Math.min(a.length, b.length);
  while (n < max && a[n] === b[n]) n++;
  if (n === a.length && n === b.length) return n;
  let cut = n;
  for (const s of [a, b]) {
    for (const piece of addedTokensAround(tok, s, n)) cut = Math.min(cut, piece);
  }
  return cut;
}

/** Start positions of added-token texts in `s` that begin before `n` and reach past it. */
function addedTokensAround(tok: Tokenizer, s: string, n: number): number[] {
  const starts: number[] = [];
  for (const text of tok.addedTokenTexts()) {
    const from = Math.max(0, n - text.length + 1);
    const at = s.indexOf(text, from);
    if (at >= 0 && at < n && at + text.length > n) starts.push(at);
  }
  return starts;
}

/**
 * The texts a message's content may appear as in a rendering, in groups tried in order: as given or trimmed
 * (templates that `| trim`), then, for assistant messages, the part after "</think>" (templates that drop the
 * reasoning of earlier turns).
 */
function contentForms(content: string, assistant: boolean): string[][] {
  const groups = [[...new Set([content, content.trim()])].filter((f) => f !== "")];
  const think = content.lastIndexOf("</think>");
  if (assistant && think >= 0) groups.push([content.slice(think + "</think>".length).trim()].filter((f) => f !== ""));
  return groups.filter((g) => g.length > 0);
}

/**
 * The earliest occurrence at or after `from`, ending at or before `limit`, of the forms of the first group that
 * has one (on a tie the longer form).
 */
function findForm(text: string, groups: string[][], from: number, limit: number): { at: number; end: number } | null {
  for (const forms of groups) {
    let best: { at: number; end: number } | null = null;
    for (const f of forms) {
      const at = text.indexOf(f, from);
      if (at < 0 || at + f.length > limit) continue;
      if (best === null || at < best.at || (at === best.at && at + f.length > best.end)) {
        best = { at, end: at + f.length };
      }
    }
    if (best !== null) return best;
  }
  return null;
}

/**
 * Locate every assistant turn of `messages` in `rendered` (the template's rendering of all of them), in order.
 * Returns the spans, or the first turn that could not be located (with the spans before it).
 */
export function locateAssistantTurns(
  rendered: string,
  messages: ChatMessage[],
  markers: TurnMarkers,
): { spans: TurnSpan[]; notFound: TurnNotFound | null } {
  const { header, lead, end } = markers;
  const spans: TurnSpan[] = [];
  const nextHeader = (from: number) => (header === "" ? -1 : rendered.indexOf(header, from));
  let cursor = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as ChatMessage;
    if (m.role !== "assistant") {
      // Skip over the message's own text when it is there and the next assistant turn can still follow it.
      const hit = skipMessage(rendered, messages, i, cursor, nextHeader);
      if (hit !== null) cursor = hit;
      continue;
    }
    const h = nextHeader(cursor);
    const start = h >= 0 ? h + header.length : null;
    const from = start ?? cursor;
    const following = nextHeader(from);
    const limit = following >= 0 ? following : rendered.length;
    const forms = contentForms(m.content, true);
    const hit = forms.length === 0 ? { at: from, end: from } : findForm(rendered, forms, from, limit);
    if (hit === null) {
      const where = header === "" ? "after the previous turn" : `after the assistant header ${JSON.stringify(header)}`;
      return {
        spans,
        notFound: { message: i, from, reason: `its content does not appear in the rendering ${where}` },
      };
    }
    let stop = hit.end;
    if (end !== "") {
      const e = rendered.indexOf(end, hit.end);
      if (e < 0 || (following >= 0 && e >= following)) {
        return {
          spans,
          notFound: {
            message: i,
            from,
            reason: `the template's end-of-turn text ${JSON.stringify(end)} does not follow its content`,
          },
        };
      }
      stop = e + end.length;
    }
    const withLead = hit.at - lead.length >= from && rendered.startsWith(lead, hit.at - lead.length);
    spans.push({ message: i, start: start ?? (withLead ? hit.at - lead.length : hit.at), end: stop });
    cursor = stop;
  }
  return { spans, notFound: null };
}

/**
 * Where non-assistant message `i` ends in the rendering, or null when its text is not found. With an assistant
 * header, the text must lie before the next header; without one, the next assistant reply must still be found
 * after it (a system prompt the template leaves out must not swallow the reply that happens to contain it).
 */
function skipMessage(
  rendered: string,
  messages: ChatMessage[],
  i: number,
  cursor: number,
  nextHeader: (from: number) => number,
): number | null {
  const forms = contentForms((messages[i] as ChatMessage).content, false);
  const h = nextHeader(cursor);
  if (h >= 0) return findForm(rendered, forms, cursor, h)?.end ?? null;
  const hit = findForm(rendered, forms, cursor, rendered.length);
  if (hit === null) return null;
  let next = i + 1;
  while (next < messages.length && (messages[next] as ChatMessage).role !== "assistant") next++;
  if (next === messages.length) return hit.end;
  const reply = contentForms((messages[next] as ChatMessage).content, true);
  return reply.length === 0 || findForm(rendered, reply, hit.end, rendered.length) !== null ? hit.end : null;
}
