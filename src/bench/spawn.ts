/**
 * Child processes of the bench: bench workers (worker.js in a fresh Node, or worker.ts with tsx's loader when
 * running from the sources, answering one JSON line), the llama.cpp child (llama-worker.js, likewise) and the
 * PyTorch scripts. Children are tracked while they run so that an interrupted bench ends them
 * (killActiveChildren) instead of leaving them to disturb the machine. Worker stderr is passed through.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type ErrorCode, LoratuneError } from "../errors.ts";
import type { LlamaCppAnswer, LlamaCppSpec } from "./llama-cpp.ts";
import type { WorkerResult, WorkerSpec } from "./spec.ts";

/** True when this module runs from src/ through tsx (a checkout), false in the compiled package (dist/). */
const FROM_SOURCES = import.meta.url.endsWith(".ts");
const ext = FROM_SOURCES ? "ts" : "js";
const WORKER = fileURLToPath(new URL(`./worker.${ext}`, import.meta.url));
const LLAMA_WORKER = fileURLToPath(new URL(`./llama-worker.${ext}`, import.meta.url));
/** Node arguments that load the worker: tsx's loader only when the worker is TypeScript. */
const WORKER_LOADER = FROM_SOURCES ? ["--import", import.meta.resolve("tsx")] : [];
const active = new Set<ChildProcess>();

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** Runs a command to completion; stderr is captured, or passed through when `passStderr`. */
export function runChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  passStderr: boolean,
): Promise<ChildResult> {
  return new Promise((resolveResult) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", passStderr ? "inherit" : "pipe"] });
    active.add(child);
    let stdout = "";
    let stderr = "";
    let error: Error | undefined;
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.on("error", (e) => {
      error = e;
    });
    child.on("close", (status, signal) => {
      active.delete(child);
      resolveResult({ status, signal, stdout, stderr, ...(error ? { error } : {}) });
    });
  });
}

/** Ends every child still running (SIGTERM). */
export function killActiveChildren(): void {
  for (const child of active) child.kill("SIGTERM");
}

/** The last line of a child's stdout when it is a JSON object, else null. */
export function lastJsonLine(stdout: string): string | null {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return last.startsWith("{") ? last : null;
}

export interface SpawnOptions {
  /** Kernel threads for the child (LORATUNE_THREADS); undefined keeps the default (every core). */
  threads?: number;
}

export async function runWorker(spec: WorkerSpec, o: SpawnOptions = {}): Promise<WorkerResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (o.threads !== undefined) env.LORATUNE_THREADS = String(o.threads);
  const args = [...WORKER_LOADER, WORKER, JSON.stringify(spec)];
  const r = await runChild(process.execPath, args, env, true);
  const line = lastJsonLine(r.stdout);
  const answer = line === null ? null : (JSON.parse(line) as WorkerResult | WorkerError);
  if (answer?.kind === "error") {
    throw new LoratuneError(answer.code, `${describeSpec(spec)}: ${answer.message}`);
  }
  if (r.status !== 0 || answer === null) {
    const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
    throw new LoratuneError("ERR_IO", `bench worker for ${describeSpec(spec)} failed (${why})`);
  }
  return answer;
}

/**
 * Runs the llama.cpp child (llama-worker.ts) on one spec: its answer, or an ERR_IO naming the spec and the
 * child's last stderr line when it fails.
 */
export async function runLlamaWorker(spec: LlamaCppSpec): Promise<LlamaCppAnswer> {
  const r = await runChild(
    process.execPath,
    [...WORKER_LOADER, LLAMA_WORKER, JSON.stringify(spec)],
    process.env,
    false,
  );
  const line = lastJsonLine(r.stdout);
  if (r.status === 0 && line !== null) return JSON.parse(line) as LlamaCppAnswer;
  const why =
    r.stderr.trim().split("\n").at(-1) || r.error?.message || (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
  const what = spec.kind === "llama-probe" ? "loading node-llama-cpp" : `${spec.workload} of ${spec.path}`;
  throw new LoratuneError("ERR_IO", `llama.cpp child process failed (${what}): ${why}`);
}

/** What a worker answers when its workload ends in a LoratuneError. */
interface WorkerError {
  kind: "error";
  code: ErrorCode;
  message: string;
}

export function describeSpec(spec: WorkerSpec): string {
  if (spec.kind === "peak") return "the matmul peak";
  if (spec.kind === "write-model") return `writing the ${spec.shape} model`;
  return `${spec.shape} ${spec.kind}${spec.kind === "train" ? ` (${spec.targets})` : ""}`;
}
