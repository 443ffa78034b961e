/**
 * The llama.cpp column, the bench process's side: whether node-llama-cpp loads (asked of a llama.cpp child, so
 * the bench's own process never loads it), the row's weights written once per (shape, dtype) as GGUF by a loratune
 * worker (llama-gguf.ts) and reused by the prefill and decode rows, and each prefill or decode row measured by a
 * llama.cpp child (llama-worker.ts) on the same threads, right after loratune's run of the row.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { StorageDType } from "../tensor/stored-tensor.ts";
import { type AnchorOutcome, llamaCell } from "./anchors.ts";
import { shapeConfig } from "./shapes.ts";
import { runLlamaWorker, runWorker, type SpawnOptions } from "./spawn.ts";
import type { ModelWorkloadSpec } from "./spec.ts";

/** llama.cpp's release, or why it is not compared. */
export type LlamaCppInfo = { version: string } | { unavailable: string };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Asks a llama.cpp child whether node-llama-cpp loads: its release, or the reason it does not. */
export async function probeLlamaCppChild(threads: number): Promise<LlamaCppInfo> {
  try {
    const answer = await runLlamaWorker({ kind: "llama-probe", threads });
    if (answer.kind === "llama-unavailable") return { unavailable: answer.reason };
    if (answer.kind === "llama-probe") return { version: answer.version };
    return { unavailable: `unexpected answer from the llama.cpp child: ${answer.kind}` };
  } catch (err) {
    return { unavailable: errorText(err) };
  }
}

/** GGUF files of the bench's models in `dir`, one per (shape, dtype), written on first use. */
export class GgufFiles {
  private readonly paths = new Map<string, string>();
  constructor(
    private readonly dir: string,
    private readonly spawnOpts: SpawnOptions,
  ) {}

  async get(shape: string, dtype: StorageDType, seed: number): Promise<string> {
    const key = `${shape}.${dtype}.${seed}`;
    const known = this.paths.get(key);
    if (known !== undefined) return known;
    const path = join(this.dir, `${key}.gguf`);
    await runWorker({ kind: "write-gguf", shape, dtype, path, seed }, this.spawnOpts);
    this.paths.set(key, path);
    return path;
  }

  /** Removes the files of `shape` (its rows are done). */
  drop(shape: string): void {
    for (const [key, path] of this.paths) {
      if (!key.startsWith(`${shape}.`)) continue;
      rmSync(path, { force: true });
      this.paths.delete(key);
    }
  }
}

/** llama.cpp on a prefill or decode row: its figures (and loratune's ratio to them), or why it failed. */
export async function llamaCppOutcome(
  spec: ModelWorkloadSpec,
  files: GgufFiles,
  threads: number,
  ours: number | null,
): Promise<AnchorOutcome> {
  if (spec.kind === "train") throw new Error("llama.cpp runs prefill and decode rows only");
  try {
    const config = shapeConfig(spec.shape);
    const path = await files.get(spec.shape, spec.dtype, spec.seed);
    const answer = await runLlamaWorker({
      kind: "llama-run",
      workload: spec.kind,
      path,
      threads,
      vocabSize: config.vocabSize,
      B: spec.B,
      T: spec.T,
      promptTokens: spec.promptTokens,
      genTokens: spec.genTokens,
      steps: spec.steps,
      warmup: spec.warmup,
    });
    if (answer.kind === "llama-unavailable") return { status: "failed", error: answer.reason };
    if (answer.kind !== "llama-run") return { status: "failed", error: `unexpected answer: ${answer.kind}` };
    return { status: "measured", ...llamaCell(answer, spec, config, ours) };
  } catch (err) {
    return { status: "failed", error: errorText(err) };
  }
}
