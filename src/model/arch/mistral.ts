/** Mistral: the Llama block under its own model_type (sliding-window attention is not applied; contexts stay within it). */
import { llamaStyleFamily } from "./llama-style.ts";

export const mistral = llamaStyleFamily({ name: "mistral", modelTypes: ["mistral"], ggufArch: "llama" });
