/**
 * Training checkpoints that resume exactly: trainable parameters, AdamW moments and step, the data position,
 * the dropout RNG state and early-stopping state. Each checkpoint is a directory written under a temporary name
 * and renamed when complete (checkpoints/step-000042), so a crash mid-write never leaves a torn checkpoint.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { LoratuneError } from "../errors.ts";
import { removeDirAtomic, writeDirAtomic } from "../io/output-dir.ts";
import { readSafetensors, type TensorToWrite } from "../io/safetensors.ts";
import { writeSafetensors } from "../io/safetensors-write.ts";
import type { WeightData } from "../tensor/formats/index.ts";
import type { TrainableParam } from "../tensor/trainable.ts";
import type { AdamW } from "./adamw.ts";

export interface TrainerState {
  /** Completed optimizer steps. */
  step: number;
  /** Data position of the next micro-batch. */
  epoch: number;
  index: number;
  rngState: number;
  bestValLoss: number | null;
  evalsWithoutImprovement: number;
  /** Digest of the settings and data that must not change across a resume. */
  fingerprint: string;
}

const STATE = "state.json";
const PARAMS = "trainable.safetensors";
const OPTIMIZER = "optimizer.safetensors";

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, "0")}`;
}

export function saveCheckpoint(
  root: string,
  params: TrainableParam[],
  opt: AdamW,
  state: TrainerState,
  keep: number,
): string {
  const dir = join(root, checkpointName(state.step));
  writeDirAtomic(dir, true, (tmp) => {
    const p = new Map<string, TensorToWrite>();
    const o = new Map<string, TensorToWrite>();
    params.forEach((param, i) => {
      p.set(param.name, { dtype: "F32", shape: param.shape, data: param.data });
      o.set(`m.${param.name}`, { dtype: "F32", shape: param.shape, data: opt.m[i]! });
      o.set(`v.${param.name}`, { dtype: "F32", shape: param.shape, data: opt.v[i]! });
    });
    writeSafetensors(join(tmp, PARAMS), p, { format: "pt" });
    writeSafetensors(join(tmp, OPTIMIZER), o, { adam_step: String(opt.step) });
    writeJson(join(tmp, STATE), state);
  });
  // Renamed away before deletion: a kill mid-delete must not leave an old step-N with state.json but no tensors.
  for (const old of listCheckpoints(root).slice(0, -Math.max(1, keep))) removeDirAtomic(join(root, old));
  removeStaleTemporaries(root);
  return dir;
}

/** state.json is written inside the temporary checkpoint directory, so a plain write is already crash-safe. */
function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Removes half-written checkpoint directories left by a run that was killed mid-write (never a complete one). */
function removeStaleTemporaries(root: string): void {
  for (const name of readdirSync(root)) {
    if (/^\.step-\d+\.(tmp|old)-\d+$/.test(name)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** Complete checkpoints under root, oldest first. */
export function listCheckpoints(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => /^step-\d+$/.test(n) && existsSync(join(root, n, STATE)))
    .sort();
}

/** A run directory's checkpoints/ folder or one checkpoint directory → the checkpoint directory to resume. */
export function resolveCheckpoint(path: string): string {
  if (existsSync(join(path, STATE))) return path;
  for (const root of [join(path, "checkpoints"), path]) {
    const all = listCheckpoints(root);
    if (all.length > 0) return join(root, all.at(-1)!);
  }
  throw new LoratuneError(
    "ERR_CHECKPOINT",
    `${path}: no checkpoint found to resume from (expected checkpoints/step-NNNNNN/${STATE})`,
  );
}

/**
 * The run directory a --resume path belongs to: the path itself, or, for a checkpoint directory inside a run
 * (RUN/checkpoints/step-NNNNNN), that run.
 */
export function runDirOf(resumePath: string): string {
  const clean = resumePath.replace(/[\\/]+$/, "") || resumePath;
  if (existsSync(join(clean, STATE)) && basename(dirname(resolve(clean))) === "checkpoints")
    return dirname(dirname(clean));
  return clean;
}

/** The trainer state saved in a checkpoint directory (validated). */
export function readCheckpointState(dir: string): TrainerState {
  return readState(join(dir, STATE));
}

/** Reads and validates state.json: a damaged file is an ERR_CHECKPOINT, never a TypeError later. */
function readState(path: string): TrainerState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new LoratuneError("ERR_CHECKPOINT", `${path}: unreadable (${(err as Error).message})`);
  }
  const s = raw as Record<string, unknown>;
  const count = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const ok =
    typeof raw === "object" &&
    raw !== null &&
    count(s.step) &&
    count(s.epoch) &&
    count(s.index) &&
    count(s.rngState) &&
    (s.bestValLoss === null || typeof s.bestValLoss === "number") &&
    count(s.evalsWithoutImprovement) &&
    typeof s.fingerprint === "string";
  if (!ok)
    throw new LoratuneError(
      "ERR_CHECKPOINT",
      `${path}: not a valid checkpoint state (a field is missing or has the wrong type)`,
    );
  return raw as TrainerState;
}

/** Loads a checkpoint into params and optimizer; returns the trainer state. Strict about names and shapes. */
export function loadCheckpoint(dir: string, params: TrainableParam[], opt: AdamW): TrainerState {
  const state = readState(join(dir, STATE));
  const p = readSafetensors(join(dir, PARAMS), "f32");
  const o = readSafetensors(join(dir, OPTIMIZER), "f32");
  params.forEach((param, i) => {
    const take = (map: Map<string, { data: WeightData }>, key: string, file: string) => {
      const t = map.get(key);
      if (!t || t.data.length !== param.data.length) {
        throw new LoratuneError(
          "ERR_CHECKPOINT",
          `${join(dir, file)}: ${key} is missing or has the wrong size; was the checkpoint made with other settings?`,
        );
      }
      return t.data as Float32Array;
    };
    param.data.set(take(p, param.name, PARAMS));
    opt.m[i]!.set(take(o, `m.${param.name}`, OPTIMIZER));
    opt.v[i]!.set(take(o, `v.${param.name}`, OPTIMIZER));
  });
  opt.step = state.step;
  return state;
}
