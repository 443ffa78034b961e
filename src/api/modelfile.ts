/**
 * An Ollama Modelfile for an export: FROM the model (the exported GGUF, or the base's Hugging Face directory when
 * only the adapter was exported), ADAPTER when the adapter is kept separate, the stop tokens (EOS and
 * generation_config's eos_token_id), and the context length. A ChatML template (<|im_start|>…<|im_end|>) is
 * written out as Ollama's Go template; for any other, Ollama reads tokenizer.chat_template from the GGUF.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface ModelfileSources {
  /** FROM: "./model.gguf" or a model directory. */
  from: string;
  /** ADAPTER: "./adapter.gguf", or null. */
  adapter: string | null;
}

const CHATML_TEMPLATE = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

/** The Modelfile's text. */
export function modelfileText(src: ModelfileSources, tok: Tokenizer, contextLength: number): string {
  const lines = ["# Written by loratune export. Create the Ollama model with: ollama create NAME -f Modelfile", ""];
  lines.push(`FROM ${src.from}`);
  if (src.adapter !== null) lines.push(`ADAPTER ${src.adapter}`);
  const chatml = tok.chatTemplate?.includes("<|im_start|>") === true && tok.chatTemplate.includes("<|im_end|>");
  if (chatml) lines.push(`TEMPLATE """${CHATML_TEMPLATE}"""`);
  for (const id of tok.stopIds) {
    const text = tok.addedTokenText(id) ?? tok.idToToken(id);
    if (text !== undefined) lines.push(`PARAMETER stop ${JSON.stringify(text)}`);
  }
  lines.push(`PARAMETER num_ctx ${contextLength}`);
  return `${lines.join("\n")}\n`;
}
