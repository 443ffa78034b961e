/**
 * Refusing a training run that would not fit, before any weight is loaded: the memory estimate (memory.ts) against
 * the memory available to this process — the kernel's MemAvailable (os.freemem() where /proc/meminfo is missing),
 * lowered to what a cgroup memory limit leaves (cgroup v2 memory.max − memory.current at this process's cgroup and
 * each one above it; v1 memory.limit_in_bytes − memory.usage_in_bytes) — or LORATUNE_MEMORY_LIMIT when it is set
 * (bytes, or a number with K, M, G or T for powers of 1024: to leave room for other work, or in tests).
 */
import { readFileSync } from "node:fs";
import { freemem } from "node:os";
import { posix } from "node:path";
import { LoratuneError } from "../errors.ts";
import type { TrainingMemory } from "./memory.ts";

export const MEMORY_LIMIT_ENV = "LORATUNE_MEMORY_LIMIT";

export interface AvailableMemory {
  bytes: number;
  /** Where the figure comes from ("MemAvailable", "cgroup memory.max", "LORATUNE_MEMORY_LIMIT"). */
  source: string;
}

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** A LORATUNE_MEMORY_LIMIT value ("8000000000", "8G", "512M") in bytes. */
export function parseMemorySize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$/i.exec(value);
  if (!m) {
    throw new LoratuneError(
      "ERR_USAGE",
      `${MEMORY_LIMIT_ENV}="${value}": expected bytes, or a number with K, M, G or T (e.g. 8G)`,
    );
  }
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** MemAvailable from /proc/meminfo in bytes, else os.freemem(). */
function systemAvailable(): AvailableMemory {
  const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readText("/proc/meminfo") ?? "");
  return m ? { bytes: Number(m[1]) * 1024, source: "MemAvailable" } : { bytes: freemem(), source: "free memory" };
}

/** A cgroup file's number, or null when absent or "max" (no limit). */
function cgroupNumber(path: string): number | null {
  const text = readText(path)?.trim();
  if (text === undefined || text === "max" || !/^\d+$/.test(text)) return null;
  return Number(text);
}

/** What the cgroup limits leave this process (the tightest level), or null when no limit is set. */
function cgroupAvailable(root = "/sys/fs/cgroup"): number | null {
  let best: number | null = null;
  // Each level from this process's cgroup up to the hierarchy's root: any of them may hold the limit.
  const walk = (base: string, path: string, limitFile: string, usageFile: string) => {
    for (let dir = posix.join(base, path); dir.startsWith(base); dir = posix.dirname(dir)) {
      const limit = cgroupNumber(posix.join(dir, limitFile));
      // cgroup v1 reports "no limit" as a huge number (close to 2^63).
      if (limit !== null && limit < 2 ** 60) {
        const left = Math.max(0, limit - (cgroupNumber(posix.join(dir, usageFile)) ?? 0));
        best = best === null ? left : Math.min(best, left);
      }
      if (dir === base) break;
    }
  };
  const cgroups = readText("/proc/self/cgroup") ?? "";
  const v2 = /^0::(.*)$/m.exec(cgroups)?.[1];
  if (v2 !== undefined) walk(root, v2, "memory.max", "memory.current");
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(cgroups)?.[1];
  if (v1 !== undefined) walk(posix.join(root, "memory"), v1, "memory.limit_in_bytes", "memory.usage_in_bytes");
  return best;
}

/** The memory this process may still take (see above). */
export function availableMemory(env: NodeJS.ProcessEnv = process.env): AvailableMemory {
  const forced = env[MEMORY_LIMIT_ENV];
  if (forced !== undefined && forced !== "") return { bytes: parseMemorySize(forced), source: MEMORY_LIMIT_ENV };
  const system = systemAvailable();
  const cgroup = cgroupAvailable();
  return cgroup !== null && cgroup < system.bytes ? { bytes: cgroup, source: "cgroup memory limit" } : system;
}

const gib = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * Throws ERR_MEMORY, in one line naming the estimate (and its parts), the memory available and what would help,
 * when the estimate exceeds what is available. `remedies`: the settings that would lower it, as flags; `override`:
 * how to train anyway.
 */
export function checkMemoryFits(
  memory: TrainingMemory,
  available: AvailableMemory,
  remedies: string[],
  override: string,
): void {
  if (memory.totalBytes <= available.bytes) return;
  const parts =
    `weights ${gib(memory.weightBytes)}, adapter and optimizer ${gib(memory.optimizerBytes)}, ` +
    `activations ${gib(memory.activationBytes)}, Node and loratune ${gib(memory.runtimeBytes)}`;
  const help = remedies.length > 0 ? `; try ${remedies.join(", ")}` : "";
  throw new LoratuneError(
    "ERR_MEMORY",
    `training would need about ${gib(memory.totalBytes)} (estimate: ${parts}) but ${gib(available.bytes)} is ` +
      `available (${available.source})${help}, or ${override} to try anyway`,
  );
}
