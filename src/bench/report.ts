/**
 * The bench report as text: one table row per (shape, workload) with loratune's medians, the fraction of the
 * matmul peak measured in the same run (decode rows also against the memory bandwidth) and, when PyTorch ran, its figures and the loratune/PyTorch ratio; then
 * the training memory check (measured peak RSS vs the pre-training estimate), where a training step's time goes
 * (forward with loss / backward / optimizer) and, with --profile, the slowest kernels of each training step.
 */
import type { BenchReport, BenchRow, WorkloadName } from "./run.ts";
import type { KernelInfo, PeakResult } from "./spec.ts";

const LABELS: Record<WorkloadName, string> = {
  train: "train q,k,v,o",
  "train-all": "train all-linear",
  prefill: "prefill",
  decode: "decode",
};

/** Relative error of the memory estimate the issue accepts. */
export const MEMORY_TOLERANCE = 0.2;

const num = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function cells(values: string[], widths: number[]): string {
  return values.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(" ");
}

/** "busy" columns: CPU cores other processes used during the measurement (above 0.1 the figures are disturbed). */
const WIDTHS = [12, 24, 9, 8, 8, 6, 8, 5, 2, 9, 7, 8, 8, 5, 2, 9, 7];
const HEADER = [
  "shape",
  "workload",
  "tokens/s",
  "ms/run",
  "GFLOP/s",
  "%peak",
  "RSS MiB",
  "busy",
  "│",
  "torch t/s",
  "ratio",
  "torch GF",
  "RSS MiB",
  "busy",
  "│",
  "llama t/s",
  "ratio",
];

const kernelsKey = (k: KernelInfo): string => `${k.backend} ${k.isa} ×${k.threads}`;

/** The peak a row is a fraction of: that of its own weight dtype (bf16 weights run the bf16 product). */
const rowPeak = (row: BenchRow, peak: PeakResult): number =>
  row.dtype === "bf16" && peak.peakBf16Gflops !== null ? peak.peakBf16Gflops : peak.peakGflops;

/** "decode", or "decode bf16" for a row with bf16 base weights. */
const rowLabel = (row: BenchRow): string => `${LABELS[row.workload]}${row.dtype === "f32" ? "" : ` ${row.dtype}`}`;

function rowCells(row: BenchRow, peak: PeakResult): string[] {
  const o = row.ours;
  const busy = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(2));
  const ours = o
    ? [
        num(o.tokensPerS, 1),
        num(o.runMsMedian, 1),
        num(o.gflops, 1),
        pct(o.gflops / rowPeak(row, peak)),
        num(o.peakRssMiB),
        busy(o.otherProcsCores),
      ]
    : ["failed", "", "", "", "", ""];
  const t = row.torch;
  const torch = t
    ? [
        num(t.tokens_per_s, 1),
        row.ratio === null ? "-" : `${row.ratio.toFixed(2)}×`,
        num(t.achieved_gflops, 1),
        num(t.peak_rss_mb),
        busy(t.other_procs_cores),
      ]
    : [row.torchError ? "failed" : "-", "-", "-", "-", "-"];
  // A row measured on other kernels than the peak (an addon rebuilt mid-run, say) says which.
  const other = o && kernelsKey(o.kernels) !== kernelsKey(peak.kernels) ? ` [${o.kernels.backend}!]` : "";
  // llama.cpp on the same weights as GGUF (decode rows only).
  const llama = row.llamaCpp
    ? [num(row.llamaCpp.tokensPerS, 1), row.llamaCppRatio === undefined ? "-" : `${row.llamaCppRatio.toFixed(2)}×`]
    : [row.llamaCppError ? "failed" : "-", "-"];
  return [row.shape, `${rowLabel(row)}${other}`, ...ours, "│", ...torch, "│", ...llama];
}

function header(r: BenchReport): string[] {
  const k = r.peak.kernels;
  const s = r.settings;
  const best = r.peak.entries.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const lines = [
    `loratune bench: ${k.backend} kernels (${k.isa}), ${s.threads} threads, ${s.dtypes.join(" and ")} base weights, ` +
      `batch ${s.B}×${s.T}, LoRA r=${s.rank} alpha ${2 * s.rank}${s.gradCheckpoint ? ", activation checkpointing (training rows)" : ""}` +
      `${s.quick ? " (quick)" : ""}`,
    `matmul peak in this run: ${r.peak.peakGflops.toFixed(1)} GFLOP/s f32${
      r.peak.peakBf16Gflops === null ? "" : `, ${r.peak.peakBf16Gflops.toFixed(1)} GFLOP/s bf16 weights`
    } (${r.peak.entries
      .map((e) => `${e.variant} ${e.M}×${e.N}×${e.K}: ${e.gflops.toFixed(1)}`)
      .join("; ")}; best ${best.variant})`,
  ];
  const bw = r.peak.bandwidth;
  if (bw) {
    lines.push(
      `memory bandwidth in this run: ${bw.triadGBs.toFixed(1)} GB/s triad (a = b·c), ${bw.copyGBs.toFixed(1)} GB/s copy ` +
        `(3 × ${bw.arrayMiB} MiB arrays, ${k.threads} threads, best of the run's samples)`,
    );
  }
  if (k.notice) lines.push(`WARNING: ${k.notice}`);
  if (r.torch && "version" in r.torch) {
    const omp = r.torch.ompWaitPolicy ? `, OMP_WAIT_POLICY=${r.torch.ompWaitPolicy}` : "";
    lines.push(`PyTorch ${r.torch.version} (${r.torch.python}), same threads${omp}`);
  } else if (r.torch) lines.push(`PyTorch: not compared (${r.torch.unavailable})`);
  if (r.llamaCpp && "version" in r.llamaCpp) {
    lines.push(
      `llama.cpp (node-llama-cpp's prebuilt CPU binary, release ${r.llamaCpp.version}): decode rows on the same weights as GGUF in the row's dtype, same threads`,
    );
  } else if (r.llamaCpp) lines.push(`llama.cpp: not compared (${r.llamaCpp.unavailable})`);
  return lines;
}

function memoryLines(rows: BenchRow[]): string[] {
  const out: string[] = [];
  for (const row of rows) {
    const o = row.ours;
    if (!o || o.estimatedPeakMiB === undefined) continue;
    const err = o.peakRssMiB / o.estimatedPeakMiB - 1;
    const verdict = Math.abs(err) <= MEMORY_TOLERANCE ? "within 20%" : "OFF by more than 20%";
    out.push(
      `  ${row.shape} ${rowLabel(row)}: peak RSS ${num(o.peakRssMiB)} MiB, estimate ${num(o.estimatedPeakMiB)} MiB ` +
        `(measured ${err >= 0 ? "+" : ""}${pct(err)}: ${verdict})`,
    );
  }
  return out.length ? ["", "training memory (peak RSS vs the pre-training summary's estimate):", ...out] : [];
}

/**
 * Each base-weight dtype against bf16 in the same run (when bf16 and another dtype ran): tokens/s and peak RSS as
 * ratios, per shape and workload.
 */
function dtypeRatioLines(rows: BenchRow[]): string[] {
  const out: string[] = [];
  for (const base of rows) {
    if (base.dtype !== "bf16" || !base.ours) continue;
    const others = rows.filter(
      (r) => r !== base && r.shape === base.shape && r.workload === base.workload && r.ours && r.dtype !== "bf16",
    );
    if (others.length === 0) continue;
    const parts = others.map((r) => {
      const o = r.ours!;
      const speed = (o.tokensPerS / base.ours!.tokensPerS).toFixed(2);
      const rss = (o.peakRssMiB / base.ours!.peakRssMiB).toFixed(2);
      return `${r.dtype} ${speed}× tokens/s, ${rss}× peak RSS`;
    });
    out.push(`  ${base.shape} ${LABELS[base.workload]}: ${parts.join("; ")}`);
  }
  return out.length ? ["", "against bf16 base weights, same run:", ...out] : [];
}

/**
 * Decode rows against the memory bandwidth: the bytes a token reads (every weight once in its held format, plus
 * the KV cache: decode-bytes.ts) times tokens/s, as a fraction of the triad bandwidth measured in the same run.
 */
function bandwidthLines(r: BenchReport): string[] {
  const bw = r.peak.bandwidth;
  if (!bw) return [];
  const out: string[] = [];
  for (const row of r.rows) {
    const o = row.ours;
    if (!o?.bytesPerToken) continue;
    const gbs = (o.bytesPerToken * o.tokensPerS) / 1e9;
    out.push(
      `  ${row.shape} ${rowLabel(row)}: ${num(o.bytesPerToken / 1e6, 1)} MB/token × ${num(o.tokensPerS, 1)} tokens/s ` +
        `= ${num(gbs, 1)} GB/s, ${pct(gbs / bw.triadGBs)} of bandwidth` +
        // A model small enough to stay in the last-level cache is read from there, not from memory.
        (gbs > bw.triadGBs ? " (above 100%: served from cache)" : ""),
    );
  }
  return out.length ? ["", `decode against the memory bandwidth (${bw.triadGBs.toFixed(1)} GB/s triad):`, ...out] : [];
}

function phaseLines(rows: BenchRow[]): string[] {
  const out: string[] = [];
  for (const row of rows) {
    const p = row.ours?.phasesMs;
    if (!p) continue;
    const total = p.forward + p.backward + p.optimizer;
    const part = (ms: number) => `${num(ms, 1)} ms (${((100 * ms) / total).toFixed(0)}%)`;
    out.push(
      `  ${row.shape} ${rowLabel(row)}: forward+loss ${part(p.forward)}, backward ${part(p.backward)}, ` +
        `grad norm+AdamW ${part(p.optimizer)}`,
    );
  }
  return out.length ? ["", "where a training step's time goes (medians):", ...out] : [];
}

function profileLines(rows: BenchRow[], top = 25): string[] {
  const out: string[] = [];
  for (const row of rows) {
    const prof = row.ours?.profile;
    if (!prof) continue;
    const total = prof.reduce((n, e) => n + e.ms, 0);
    out.push("", `kernel time per step, ${row.shape} ${rowLabel(row)} (total ${num(total, 1)} ms in kernels):`);
    for (const e of prof.slice(0, top)) {
      const gf = e.flops > 0 ? `  ${num(e.flops / (e.ms / 1000) / 1e9, 1)} GFLOP/s` : "";
      out.push(
        `  ${e.key.padEnd(34)} ${num(e.ms, 1).padStart(9)} ms ${pct(e.ms / total).padStart(6)}  ×${e.calls}${gf}`,
      );
    }
  }
  return out;
}

function noteLines(r: BenchReport): string[] {
  const busy = r.rows.filter(
    (row) => (row.ours?.otherProcsCores ?? 0) > 0.1 || (row.torch?.other_procs_cores ?? 0) > 0.1,
  );
  const out: string[] = [];
  if (busy.length) {
    out.push(
      "",
      `note: other processes used the CPU during ${busy.length} of ${r.rows.length} rows ` +
        `(up to ${Math.max(...busy.map((b) => Math.max(b.ours?.otherProcsCores ?? 0, b.torch?.other_procs_cores ?? 0))).toFixed(2)} cores): absolute figures are disturbed, ratios less so`,
    );
  }
  const mixed = r.rows.filter((row) => row.ours && kernelsKey(row.ours.kernels) !== kernelsKey(r.peak.kernels));
  for (const row of mixed) {
    const k = row.ours!.kernels;
    out.push(`WARNING: ${row.shape} ${rowLabel(row)} ran on ${kernelsKey(k)}${k.notice ? ` (${k.notice})` : ""}`);
  }
  for (const row of r.rows) {
    if (row.error) out.push(`error: ${row.shape} ${rowLabel(row)}: ${row.error}`);
    if (row.torchError) out.push(`error: PyTorch ${row.shape} ${rowLabel(row)}: ${row.torchError}`);
    if (row.llamaCppError) out.push(`error: llama.cpp ${row.shape} ${rowLabel(row)}: ${row.llamaCppError}`);
  }
  out.push(`total ${r.totalS.toFixed(0)} s`);
  return out;
}

export function formatReport(r: BenchReport): string {
  const table = [cells(HEADER, WIDTHS), ...r.rows.map((row) => cells(rowCells(row, r.peak), WIDTHS))];
  return [
    ...header(r),
    "",
    ...table,
    ...bandwidthLines(r),
    ...dtypeRatioLines(r.rows),
    ...memoryLines(r.rows),
    ...phaseLines(r.rows),
    ...profileLines(r.rows),
    ...noteLines(r),
  ].join("\n");
}
