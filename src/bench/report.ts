/**
 * The bench report as text: the run's settings and limits (matmul peaks per dtype, loratune's and PyTorch's, and
 * the memory bandwidth) and how each anchor ran, the speed and detail tables (report-table.ts), then decode
 * against the bandwidth, loratune's fastest mode against each anchor's, each dtype against bf16, the training
 * memory check (measured peak RSS vs the pre-training estimate), where a training step's time goes (forward with
 * loss / backward / optimizer) and, with --profile, the slowest kernels of each
 * training step, prefill run or decoded token.
 */
import { ANCHOR_LABELS, ANCHOR_NAMES } from "./anchors.ts";
import type { MatmulLimit } from "./limits.ts";
import { detailTable, kernelsKey, LABELS, num, pct, rowLabel, speedTable } from "./report-table.ts";
import type { BenchReport, BenchRow } from "./run.ts";

/** Relative error of the memory estimate the issue accepts. */
export const MEMORY_TOLERANCE = 0.2;

const limitText = (l: MatmulLimit | null): string =>
  l === null ? "not measured" : `${l.gflops.toFixed(1)} GFLOP/s (${l.by})`;

/** Each product measured for a dtype's peak, per shape: " [loratune …; PyTorch linear …]". */
function productRates(r: BenchReport, dtype: "f32" | "bf16"): string {
  const rates = (list: { M: number; N: number; K: number; gflops: number }[]) =>
    list.map((e) => `${e.M}×${e.N}×${e.K}: ${e.gflops.toFixed(1)}`).join(", ");
  const parts: string[] = [];
  const ours = r.peak.entries.filter((e) => e.variant === (dtype === "f32" ? "matmulNT" : "matmulNTBf16"));
  if (ours.length > 0) parts.push(`loratune${dtype === "bf16" ? " bf16 weights" : ""} ${rates(ours)}`);
  const g = r.torchGemm;
  if (g && "entries" in g) {
    const capability = dtype === "bf16" ? ` (CPU capability ${g.capability}: oneDNN's bf16 needs AVX-512)` : "";
    parts.push(`PyTorch linear ${rates(g.entries.filter((e) => e.dtype === dtype))}${capability}`);
  }
  return parts.length > 0 ? ` [${parts.join("; ")}]` : "";
}

/** The limits section: what every %limit is a fraction of, and each product measured. */
function limitLines(r: BenchReport): string[] {
  const p = r.peak;
  const g = r.torchGemm;
  const lines = [
    "limits in this run (%limit: training and prefill of the matmul peak of their compute dtype, decode of the read bandwidth):",
    `  matmul f32: ${limitText(r.limits.f32)}${productRates(r, "f32")}`,
    `  matmul bf16: ${limitText(r.limits.bf16)}${productRates(r, "bf16")}`,
  ];
  if (g && "error" in g) lines.push(`  PyTorch's matmul probe failed: ${g.error}`);
  const bw = p.bandwidth;
  if (bw) {
    lines.push(
      `  memory bandwidth: ${bw.readGBs.toFixed(1)} GB/s read (Σ a: decode's access, its limit), ` +
        `${bw.triadGBs.toFixed(1)} GB/s triad (a = b·c), ${bw.copyGBs.toFixed(1)} GB/s copy ` +
        `(${bw.arrayMiB} MiB arrays, ${p.kernels.threads} threads, best of the run's samples)`,
    );
  }
  return lines;
}

/** How each anchor ran, or why it was not compared. */
function anchorLines(r: BenchReport): string[] {
  const lines: string[] = [];
  if (r.torch && "version" in r.torch) {
    const policy =
      r.torch.waitPolicy === "passive"
        ? "PASSIVE (--shared-machine: for a machine shared with other work; slower on a quiet one)"
        : "its default (OMP_WAIT_POLICY unset)";
    const modes = r.torch.modes.includes("bf16")
      ? "f32, and bf16 autocast for training and prefill (bench_lora.py's decode has no autocast)"
      : "f32 (bf16 autocast not compared: --no-torch-bf16)";
    lines.push(
      `PyTorch ${r.torch.version} (${r.torch.python}), same threads, OpenMP wait policy ${policy}, glibc keeping ` +
        `freed memory: ${modes}`,
    );
  } else if (r.torch) lines.push(`PyTorch: not compared (${r.torch.unavailable})`);
  if (r.llamaCpp && "version" in r.llamaCpp) {
    lines.push(
      `llama.cpp (node-llama-cpp's prebuilt CPU binary, release ${r.llamaCpp.version}) in its own process, same ` +
        "threads, on the same weights as GGUF in the row's dtype: prefill as prompt evaluation (logits of each " +
        "prompt's last token only; loratune's and PyTorch's prefill compute them at every position), decode greedy at batch 1",
    );
  } else if (r.llamaCpp) lines.push(`llama.cpp: not compared (${r.llamaCpp.unavailable})`);
  return lines;
}

function header(r: BenchReport): string[] {
  const k = r.peak.kernels;
  const s = r.settings;
  const lines = [
    `loratune bench: ${k.backend} kernels (${k.isa}), ${s.threads} threads, ${s.dtypes.join(" and ")} base weights, ` +
      `batch ${s.B}×${s.T}, LoRA r=${s.rank} alpha ${2 * s.rank}${s.gradCheckpoint ? ", activation checkpointing (training rows)" : ""}` +
      `${s.quick ? " (quick)" : ""}`,
    ...limitLines(r),
  ];
  if (k.notice) lines.push(`WARNING: ${k.notice}`);
  return [...lines, ...anchorLines(r)];
}

/**
 * loratune's fastest dtype against each anchor's fastest mode, per (shape, workload): the goal's comparison
 * (PyTorch's fastest of f32 and bf16 autocast; llama.cpp's fastest GGUF dtype).
 */
function fastestLines(r: BenchReport): string[] {
  const out: string[] = [];
  const keys = [...new Set(r.rows.map((row) => `${row.shape}/${row.workload}`))];
  for (const key of keys) {
    const rows = r.rows.filter((row) => `${row.shape}/${row.workload}` === key);
    const ours = rows.filter((row) => row.ours).sort((a, b) => b.ours!.tokensPerS - a.ours!.tokensPerS)[0];
    if (!ours) continue;
    const parts: string[] = [];
    for (const group of [["torchF32", "torchBf16"], ["llamaCpp"]] as const) {
      let best: { label: string; tps: number } | null = null;
      for (const row of rows) {
        for (const name of group) {
          const a = row.anchors[name];
          if (a?.status !== "measured" || (best && best.tps >= a.tokensPerS)) continue;
          best = { label: name === "llamaCpp" ? `llama.cpp ${row.dtype}` : ANCHOR_LABELS[name], tps: a.tokensPerS };
        }
      }
      if (best) parts.push(`${(ours.ours!.tokensPerS / best.tps).toFixed(2)}× ${best.label} (${num(best.tps, 1)})`);
    }
    if (parts.length === 0) continue;
    out.push(
      `  ${ours.shape} ${LABELS[ours.workload]}: loratune ${ours.dtype} ${num(ours.ours!.tokensPerS, 1)} tokens/s = ${parts.join(", ")}`,
    );
  }
  return out.length
    ? ["", "loratune's fastest dtype against each anchor's fastest mode, same run (tokens/s):", ...out]
    : [];
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
 * the KV cache: decode-bytes.ts) times tokens/s, as a fraction of the read bandwidth measured in the same run
 * (a token reads its weights and writes almost nothing: bandwidth.ts), and of the rate the row's own weights were
 * read at between its timed runs (weights-read.ts: the memory as it was then, where the run's best sample may
 * have met a faster moment).
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
        `= ${num(gbs, 1)} GB/s, ${pct(gbs / bw.readGBs)} of bandwidth` +
        // A model small enough to stay in the last-level cache is read from there, not from memory; a large one
        // passes 100% when the probe's best sample met a busier moment of the memory than the row did.
        (gbs > bw.readGBs ? " (above 100%: served from cache, or the probe met a busier moment)" : "") +
        (o.weightsReadGBs
          ? `; ${pct(gbs / o.weightsReadGBs)} of its weights' read rate between runs (${num(o.weightsReadGBs, 1)} GB/s)`
          : ""),
    );
  }
  return out.length ? ["", `decode against the memory bandwidth (${bw.readGBs.toFixed(1)} GB/s read):`, ...out] : [];
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
    const ours = row.ours;
    const prof = ours?.profile;
    if (!ours || !prof) continue;
    const total = prof.reduce((n, e) => n + e.ms, 0);
    // A decode run times genTokens tokens; the profile is per token, so is the wall time it is put against.
    const [unit, wallMs] =
      ours.kind === "decode"
        ? ["token", ours.runMsMedian / ours.tokensPerRun]
        : [ours.kind === "train" ? "step" : "run", ours.runMsMedian];
    out.push(
      "",
      `kernel time per ${unit}, ${row.shape} ${rowLabel(row)} (${num(total, 1)} ms in kernels of ${num(wallMs, 1)} ms ` +
        "median wall time):",
    );
    for (const e of prof.slice(0, top)) {
      const gf = e.flops > 0 ? `  ${num(e.flops / (e.ms / 1000) / 1e9, 1)} GFLOP/s` : "";
      out.push(
        `  ${e.key.padEnd(34)} ${num(e.ms, 1).padStart(9)} ms ${pct(e.ms / total).padStart(6)}  ×${e.calls}${gf}`,
      );
    }
  }
  return out;
}

/** The most cores other processes used during any side's timed runs of a row. */
function rowBusy(row: BenchRow): number {
  const anchors = ANCHOR_NAMES.map((n) => {
    const a = row.anchors[n];
    return a?.status === "measured" ? (a.otherProcsCores ?? 0) : 0;
  });
  return Math.max(row.ours?.otherProcsCores ?? 0, ...anchors);
}

function noteLines(r: BenchReport): string[] {
  const busy = r.rows.filter((row) => rowBusy(row) > 0.1);
  const out: string[] = [];
  if (busy.length) {
    out.push(
      "",
      `note: other processes used the CPU during ${busy.length} of ${r.rows.length} rows ` +
        `(up to ${Math.max(...busy.map(rowBusy)).toFixed(2)} cores): absolute figures are disturbed, ratios less so`,
    );
  }
  // llama.cpp's threads spin at every barrier between operations: when other processes take cores they wait out
  // whole time slices (on our busy 2-core machine one small-model decode ran at 0.7 tokens/s on 2 threads, 165 on 1).
  const llamaBusy = r.rows.filter((row) => {
    const a = row.anchors.llamaCpp;
    return a?.status === "measured" && (a.otherProcsCores ?? 0) > 0.25;
  });
  if (llamaBusy.length) {
    out.push(
      `note: llama.cpp ran while other processes were busy in ${llamaBusy.length} of ${r.rows.length} rows: its spinning threads lose ` +
        "far more to them than loratune's do, so its figures and ratios there do not stand; measure on a quiet machine",
    );
  }
  const mixed = r.rows.filter((row) => row.ours && kernelsKey(row.ours.kernels) !== kernelsKey(r.peak.kernels));
  for (const row of mixed) {
    const k = row.ours!.kernels;
    out.push(`WARNING: ${row.shape} ${rowLabel(row)} ran on ${kernelsKey(k)}${k.notice ? ` (${k.notice})` : ""}`);
  }
  for (const row of r.rows) {
    if (row.error) out.push(`error: ${row.shape} ${rowLabel(row)}: ${row.error}`);
    for (const name of ANCHOR_NAMES) {
      const a = row.anchors[name];
      if (a?.status === "failed") out.push(`error: ${ANCHOR_LABELS[name]} ${row.shape} ${rowLabel(row)}: ${a.error}`);
    }
  }
  out.push(`total ${r.totalS.toFixed(0)} s`);
  return out;
}

export function formatReport(r: BenchReport): string {
  return [
    ...header(r),
    "",
    ...speedTable(r),
    "",
    ...detailTable(r),
    ...bandwidthLines(r),
    ...fastestLines(r),
    ...dtypeRatioLines(r.rows),
    ...memoryLines(r.rows),
    ...phaseLines(r.rows),
    ...profileLines(r.rows),
    ...noteLines(r),
  ].join("\n");
}
