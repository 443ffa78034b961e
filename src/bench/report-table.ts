/**
 * The bench report's two tables, one line per (shape, workload, dtype):
 * - speed: loratune's tokens/s and %limit, then for each anchor (PyTorch f32, PyTorch bf16 autocast, llama.cpp)
 *   its tokens/s, loratune's ratio to it and its own %limit: training and prefill of the matmul peak of the
 *   column's compute dtype, decode of the memory bandwidth (limits.ts);
 * - detail: loratune's ms per run and GFLOP/s, then each side's peak RSS and how busy other processes kept the CPU.
 * An anchor cell reads "failed" (the reason is listed under the tables), "n/a" where the anchor ran in this run but
 * does not run that workload, "-" where it was not compared at all (the header says why).
 */
import { ANCHOR_NAMES, type AnchorName, anchorComputeDtype } from "./anchors.ts";
import { computeDtype, fractionOfLimit, type Limits } from "./limits.ts";
import type { BenchReport, BenchRow, WorkloadName } from "./run.ts";
import type { KernelInfo } from "./spec.ts";

export const LABELS: Record<WorkloadName, string> = {
  train: "train q,k,v,o",
  "train-all": "train all-linear",
  prefill: "prefill",
  decode: "decode",
};

/** "decode", or "decode bf16" for a row with bf16 base weights. */
export const rowLabel = (row: BenchRow): string =>
  `${LABELS[row.workload]}${row.dtype === "f32" ? "" : ` ${row.dtype}`}`;

export const num = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : "-");
export const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const pctOrDash = (x: number | null): string => (x === null ? "-" : pct(x));
const busy = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : x.toFixed(2));

export const kernelsKey = (k: KernelInfo): string => `${k.backend} ${k.isa} ×${k.threads}`;

/** Short column titles of the anchors. */
const SHORT: Record<AnchorName, string> = { torchF32: "torch f32", torchBf16: "torch bf16", llamaCpp: "llama.cpp" };

/** A column group: its title over `widths.length` columns. */
interface Group {
  title: string;
  heads: string[];
  widths: number[];
}

/** The first two columns (shape, workload) are left-aligned, the rest right-aligned; groups are split by │. */
function line(groups: Group[], cellsOf: (g: Group, i: number) => string[]): string {
  return groups
    .map((g, gi) =>
      cellsOf(g, gi)
        .map((v, i) => (gi === 0 && i < 2 ? v.padEnd(g.widths[i]!) : v.padStart(g.widths[i]!)))
        .join(" "),
    )
    .join(" │ ");
}

function table(groups: Group[], rows: string[][][]): string[] {
  const groupWidth = (g: Group) => g.widths.reduce((a, b) => a + b, 0) + g.widths.length - 1;
  const titles = groups.map((g) => g.title.padEnd(groupWidth(g)).slice(0, groupWidth(g))).join(" │ ");
  return [titles.trimEnd(), line(groups, (g) => g.heads), ...rows.map((r) => line(groups, (_g, gi) => r[gi]!))];
}

/** Whether an anchor was compared in this run (so an empty cell reads "n/a", not "-"). */
export function anchorCompared(r: BenchReport, name: AnchorName): boolean {
  if (name === "llamaCpp") return r.llamaCpp !== null && "version" in r.llamaCpp;
  return r.torch !== null && "version" in r.torch && r.torch.modes.includes(name === "torchBf16" ? "bf16" : "f32");
}

/** loratune's %limit on a row. */
export function oursFraction(row: BenchRow, limits: Limits): number | null {
  const o = row.ours;
  if (!o) return null;
  return fractionOfLimit(limits, o.kind, computeDtype(row.dtype, limits.blocksOnBf16), o);
}

function anchorSpeedCells(r: BenchReport, row: BenchRow, name: AnchorName): string[] {
  const a = row.anchors[name];
  if (!a) return [anchorCompared(r, name) ? "n/a" : "-", "", ""];
  if (a.status === "failed") return ["failed", "", ""];
  const kind = row.ours?.kind ?? (row.workload === "train-all" ? "train" : row.workload);
  const fraction = fractionOfLimit(r.limits, kind, anchorComputeDtype(name, row.dtype), a);
  return [num(a.tokensPerS, 1), a.ratio === null ? "-" : `${a.ratio.toFixed(2)}×`, pctOrDash(fraction)];
}

/** The speed table: loratune and each anchor, tokens/s, ratio and %limit. */
export function speedTable(r: BenchReport): string[] {
  const policy =
    r.torch && "version" in r.torch ? ` (${r.torch.waitPolicy === "passive" ? "PASSIVE" : "default"} wait)` : "";
  const groups: Group[] = [
    {
      title: `${" ".repeat(13 + 22 + 2)}loratune`,
      heads: ["shape", "workload", "tokens/s", "%limit"],
      widths: [13, 22, 9, 7],
    },
    ...ANCHOR_NAMES.map((name) => ({
      title:
        name === "torchF32" ? `PyTorch f32${policy}` : name === "torchBf16" ? "PyTorch bf16 autocast" : "llama.cpp",
      heads: [SHORT[name], "ratio", "%limit"],
      widths: [10, 8, 7],
    })),
  ];
  const rows = r.rows.map((row) => {
    const o = row.ours;
    const other = o && kernelsKey(o.kernels) !== kernelsKey(r.peak.kernels) ? ` [${o.kernels.backend}!]` : "";
    const ours = o ? [num(o.tokensPerS, 1), pctOrDash(oursFraction(row, r.limits))] : ["failed", ""];
    return [[row.shape, `${rowLabel(row)}${other}`, ...ours], ...ANCHOR_NAMES.map((n) => anchorSpeedCells(r, row, n))];
  });
  return table(groups, rows);
}

/** The detail table: loratune's ms/run and GFLOP/s, then peak RSS and contention of every side. */
export function detailTable(r: BenchReport): string[] {
  const sides = ["loratune", ...ANCHOR_NAMES.map((n) => SHORT[n])];
  const groups: Group[] = [
    { title: "", heads: ["shape", "workload", "ms/run", "GFLOP/s"], widths: [13, 22, 9, 8] },
    { title: "peak RSS MiB", heads: sides, widths: [9, 10, 10, 9] },
    { title: "busy (cores used by other processes)", heads: sides, widths: [9, 10, 10, 9] },
  ];
  const rows = r.rows.map((row) => {
    const o = row.ours;
    const cell = (name: AnchorName, pick: "rss" | "busy"): string => {
      const a = row.anchors[name];
      if (!a) return anchorCompared(r, name) ? "n/a" : "-";
      if (a.status === "failed") return "failed";
      return pick === "rss" ? num(a.peakRssMiB) : busy(a.otherProcsCores);
    };
    return [
      [row.shape, rowLabel(row), o ? num(o.runMsMedian, 1) : "failed", o ? num(o.gflops, 1) : ""],
      [o ? num(o.peakRssMiB) : "-", ...ANCHOR_NAMES.map((n) => cell(n, "rss"))],
      [busy(o?.otherProcsCores), ...ANCHOR_NAMES.map((n) => cell(n, "busy"))],
    ];
  });
  return table(groups, rows);
}
