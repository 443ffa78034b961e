/**
 * Small measurement helpers: medians, and how busy OTHER processes kept the CPU during a measurement
 * (the same check bench_lora.py prints as other_procs_cores: above ~0.1 core the figures are disturbed).
 */
import { readFileSync } from "node:fs";
import { kernelNotice } from "../kernels/index.ts";
import { nativeBlocksOnBf16 } from "../kernels/native/index.ts";
import type { Kernels } from "../kernels/types.ts";
import type { KernelInfo } from "./spec.ts";

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Linux reports /proc/stat in USER_HZ ticks, 100 per second on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

/** Busy seconds of the whole machine since boot (all but idle and iowait), or null off Linux. */
function machineBusySeconds(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (v.length < 5 || v.some((x) => !Number.isFinite(x))) return null;
    const total = v.reduce((a, b) => a + b, 0);
    return (total - v[3]! - v[4]!) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Shortest window the contention check reports on: /proc/stat counts 10 ms ticks, so one tick of rounding over
 * a shorter window would read as a large fraction of a core (a 4 ms decode run showed "2.2 cores").
 */
const MIN_CONTENTION_WINDOW_S = 0.5;

/**
 * Starts a contention measurement; the returned function gives cores used by other processes since then, or
 * null off Linux and for windows under MIN_CONTENTION_WINDOW_S.
 */
export function startContentionMeter(): () => number | null {
  const machine0 = machineBusySeconds();
  const own0 = ownCpuSeconds();
  const wall0 = performance.now();
  return () => {
    const machine1 = machineBusySeconds();
    if (machine0 === null || machine1 === null) return null;
    const wall = (performance.now() - wall0) / 1000;
    if (wall < MIN_CONTENTION_WINDOW_S) return null;
    const other = machine1 - machine0 - (ownCpuSeconds() - own0);
    return Math.round((Math.max(0, other) / wall) * 100) / 100;
  };
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Which kernels made a measurement, with the reason when the native ones could not be loaded. */
export function kernelInfo(k: Kernels): KernelInfo {
  const notice = kernelNotice();
  const blocksOnBf16 = nativeBlocksOnBf16(k);
  return { backend: k.name, isa: k.isa, threads: k.threads, blocksOnBf16, ...(notice ? { notice } : {}) };
}
