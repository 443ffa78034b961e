/**
 * Starts a bench worker (worker.ts) in a fresh Node process with tsx's loader and waits for its one-line JSON
 * answer. The child inherits stderr (its errors show as they happen); LORATUNE_THREADS is set when the bench
 * was given --threads.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LoratuneError } from "../errors.ts";
import type { WorkerResult, WorkerSpec } from "./spec.ts";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

export interface SpawnOptions {
  /** Kernel threads for the child (LORATUNE_THREADS); undefined keeps the default (every core). */
  threads?: number;
}

export function runWorker(spec: WorkerSpec, o: SpawnOptions = {}): WorkerResult {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (o.threads !== undefined) env.LORATUNE_THREADS = String(o.threads);
  const r = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), WORKER, JSON.stringify(spec)], {
    encoding: "utf8",
    env,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 * 2 ** 20,
  });
  const lastLine = (r.stdout ?? "").trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !lastLine.startsWith("{")) {
    const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
    throw new LoratuneError("ERR_IO", `bench worker for ${describeSpec(spec)} failed (${why})`);
  }
  return JSON.parse(lastLine) as WorkerResult;
}

export function describeSpec(spec: WorkerSpec): string {
  if (spec.kind === "peak") return "the matmul peak";
  if (spec.kind === "write-model") return `writing the ${spec.shape} model`;
  return `${spec.shape} ${spec.kind}${spec.kind === "train" ? ` (${spec.targets})` : ""}`;
}
